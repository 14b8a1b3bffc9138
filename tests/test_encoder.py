"""One encoder and one colour rule for every reader and writer: recordings and file outputs read back
with the colours they were given, and every decoder (file, live file source, training data, bench
frame grabber) turns the same stream into the same RGB."""

from __future__ import annotations

import threading
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from cartoonize.colour import YuvColour, is_full_range, tags_naming, yuv_colour
from cartoonize.errors import BadInputError
from cartoonize.realtime.live_record import RecordSink
from cartoonize.realtime.live_source import LiveSourceConfig, SourceInfo, open_live_source
from cartoonize.realtime.video_sink import VideoWriter
from cartoonize.realtime.video_source import VideoFrameItem, VideoInfo, VideoSource, grab_frame

# Saturated and mid colours, where a wrong matrix (BT.601 vs BT.709) moves values the most.
PATCH_COLOURS = np.array([[230, 30, 30], [30, 200, 40], [40, 40, 220], [240, 220, 40],
                          [200, 40, 200], [40, 210, 210], [128, 128, 128], [250, 250, 250]], np.uint8)


def patches(width: int, height: int) -> np.ndarray:
    """Eight flat colour patches in a 4x2 grid."""
    rows, cols = 2, 4
    frame = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(PATCH_COLOURS):
        r, c = divmod(i, cols)
        frame[r * height // rows:(r + 1) * height // rows, c * width // cols:(c + 1) * width // cols] = colour
    return frame


def patch_centres(rgb_u8_hwc: np.ndarray) -> np.ndarray:
    """Mean colour of the middle of each patch (away from the edges chroma subsampling blurs)."""
    height, width = rgb_u8_hwc.shape[:2]
    out = []
    for i in range(len(PATCH_COLOURS)):
        r, c = divmod(i, 4)
        cy, cx = (2 * r + 1) * height // 4, (2 * c + 1) * width // 8
        out.append(rgb_u8_hwc[cy - 8:cy + 8, cx - 8:cx + 8].reshape(-1, 3).mean(axis=0))
    return np.array(out)


def record(path, width: int, height: int, frames: int = 3) -> None:
    sink = RecordSink(path)
    sink.open(SourceInfo("test", width, height, 30.0))
    for i in range(frames):
        sink.write(patches(width, height), SimpleNamespace(t_capture=i / 30))
    sink.close()


# SD uses BT.601, whose 8-bit round trip through swscale alone (no codec) is already off by up to 3
# levels on these saturated patches (BT.709: 2); a wrong matrix is off by 10 and more.
@pytest.mark.parametrize("size, tolerance", [((1280, 720), 2), ((640, 480), 3), ((321, 239), 3)])
def test_recording_reads_back_with_its_colours(tmp_path, size, tolerance):
    import av

    width, height = size
    path = tmp_path / "rec.mp4"
    record(path, width, height)
    decoded = [item.rgb_u8_hwc for item in VideoSource.open(path).frames()]
    assert len(decoded) == 3 and decoded[0].shape == (height + height % 2, width + width % 2, 3)
    error = np.abs(patch_centres(decoded[1][:height, :width]) - PATCH_COLOURS).max()
    assert error <= tolerance, error
    # The control: the same recording decoded with the other matrix is far off, so the check can fail.
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        other = "ITU601" if yuv_colour(2, height).matrix == "ITU709" else "ITU709"
        wrong = frame.to_ndarray(format="rgb24", src_colorspace=other, src_color_range="MPEG")
    assert np.abs(patch_centres(wrong[:height, :width]) - PATCH_COLOURS).max() > 10


def test_file_output_reads_back_with_its_colours_within_2_levels(tmp_path):
    from conftest import write_clip

    # An untagged 720p input; the writer's second demuxer copies the (no) other streams of a small clip.
    info = VideoInfo(path=write_clip(tmp_path / "src.mp4", 64, 48), width=1280, height=720, codec="h264",
                     time_base=Fraction(1, 1000), frames=3, average_rate=Fraction(30), duration_s=None, rotation=0,
                     color_primaries=2, color_trc=2, colorspace=2, full_range=False)
    writer = VideoWriter(tmp_path / "out.mp4", info, log=lambda m: None, warn=lambda m: None)
    for i in range(3):
        writer.write(VideoFrameItem(i, patches(1280, 720), i * 33, Fraction(1, 1000), 33))
    writer.close()
    decoded = [item.rgb_u8_hwc for item in VideoSource.open(tmp_path / "out.mp4").frames()]
    error = np.abs(patch_centres(decoded[1]) - PATCH_COLOURS).max()
    assert error <= 2, error


def test_recording_is_written_beside_and_renamed_only_when_finished(tmp_path):
    path = tmp_path / "rec.mkv"
    sink = RecordSink(path)
    sink.open(SourceInfo("test", 64, 48, 30.0))
    sink.write(patches(64, 48), SimpleNamespace(t_capture=0.0))
    partial = [p.name for p in tmp_path.iterdir()]
    assert not path.exists() and len(partial) == 1 and partial[0].startswith(".rec.mkv.")
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mkv"]
    assert len([f for f in VideoSource.open(path).frames()]) == 1


def test_a_recording_without_frames_leaves_nothing(tmp_path):
    sink = RecordSink(tmp_path / "rec.mp4")
    sink.open(SourceInfo("test", 64, 48, 30.0))
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_recording_refuses_an_unknown_container_before_anything_opens(tmp_path):
    with pytest.raises(BadInputError, match="no container format"):
        RecordSink(tmp_path / "rec.notacontainer")
    assert list(tmp_path.iterdir()) == []


def test_the_colour_rule_tag_first_then_height():
    assert yuv_colour(1, 144) == YuvColour("ITU709", "MPEG")       # tagged BT.709: even at SD size
    assert yuv_colour(6, 1080) == YuvColour("ITU601", "MPEG")      # tagged BT.601: even at HD size
    assert yuv_colour(2, 720).matrix == "ITU709" and yuv_colour(2, 719).matrix == "ITU601"   # untagged
    assert yuv_colour(2, 480, full_range=True).range == "JPEG"
    assert is_full_range(2, None) and is_full_range(0, "yuvj420p") and not is_full_range(1, "yuv420p")
    assert tags_naming(yuv_colour(2, 720)) == (1, 1, 1) and tags_naming(yuv_colour(2, 480)) == (6, 6, 6)


def test_every_reader_decodes_the_hd_clip_to_the_same_rgb(bunny_clip):
    # bigbuckbunny.mp4 is 720p without a matrix tag: the case where readers used to disagree.
    reference, index = grab_frame(bunny_clip, 0)
    assert index == 0
    from cartoonize.train.data import read_video_frames
    assert np.array_equal(read_video_frames(bunny_clip, 1)[0], reference)            # training data
    source = open_live_source(LiveSourceConfig(kind="file", target=str(bunny_clip)))  # live --input
    try:
        assert np.array_equal(source.read(threading.Event()), reference)
    finally:
        source.close()


def test_frame_grabber_gives_the_last_frame_of_a_short_clip_and_refuses_an_empty_one(tmp_path):
    from conftest import write_clip
    clip = write_clip(tmp_path / "short.mp4", 64, 48, pts=[0, 40, 80])
    frame, index = grab_frame(clip, 12)
    assert index == 2 and frame.shape == (48, 64, 3)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        grab_frame(tmp_path / "empty.mp4", 12)


class FullDisk:
    """Stands in for the recording's output container once the disk is full: muxing fails with ENOSPC."""

    def __init__(self, real):
        self.real = real

    def mux(self, packets):
        import errno
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        self.real.close()


def test_a_full_disk_while_recording_is_one_line_and_leaves_no_partial_file(tmp_path):
    from cartoonize.errors import CartoonizeError

    path = tmp_path / "rec.mp4"
    sink = RecordSink(path)
    sink.open(SourceInfo("test", 64, 48, 30.0))
    sink.write(patches(64, 48), SimpleNamespace(t_capture=0.0))
    sink._output = FullDisk(sink._output)
    with pytest.raises(CartoonizeError) as error:
        sink.write(patches(64, 48), SimpleNamespace(t_capture=0.04))
    assert str(error.value) == (f"{path}: writing failed (No space left on device), nothing was written; "
                                f"free some space or write to another folder")
    with pytest.raises(CartoonizeError):
        sink.close()                 # finishing the file fails the same way: nothing is published
    assert list(tmp_path.iterdir()) == []
