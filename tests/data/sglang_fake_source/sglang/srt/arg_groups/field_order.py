POSITIONAL_FIELD_ORDER = (
    "model_path",
    "log_level",
)
