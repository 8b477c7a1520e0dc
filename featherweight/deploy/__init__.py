"""Export students for phones and microcontrollers: ONNX fp32 / int8 and self-contained C, each checked.

    from featherweight.deploy import ExportConfig, export
    export(ExportConfig(model="artifacts/students/sst-2-bilstm-bpe25-...", output="out/onnx", format="onnx"))

Importing this package needs neither torch nor sentencepiece (the predictor imports the
tokenizer port from here); `export` and `ExportConfig` load the exporters on first use.
"""
_API = ("ExportConfig", "ExportParityError", "export")

__all__ = list(_API)


def __getattr__(name):  # PEP 562: keep `import featherweight.deploy.reference_tokenizer` free of torch
    if name in _API:
        from featherweight.deploy import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
