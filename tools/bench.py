import click
@click.command()
def main():
    """placeholder"""
