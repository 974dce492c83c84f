"""Fabricated sglang source for the contract checker's negative test (layout of 0.5.23)."""



class Model:
    _NS_PATH = "model"
    model_path: str = ""
    context_length: int | None = None
    load_format: str = "auto"
    _private_flag: bool = False


class NotANamespace:
    # No _NS_PATH: its fields are not ServerArgs fields.
    log_level: str = "info"
