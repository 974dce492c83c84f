class ExecKernel:
    _NS_PATH = "exec.kernel"
    attention_backend: str | None = None
    # Renamed on purpose: the adapter passes mm_attention_backend.
    multimodal_attention_backend: str | None = None


class Parallel:
    _NS_PATH = "parallel"
    tp_size: int = 1
    dp_size: int = 1


class Device:
    _NS_PATH = "device"
    random_seed: int | None = None


class Serving:
    _NS_PATH = "serving"
    constrained_json_disable_any_whitespace: bool = False
    mem_fraction_static: float | None = None
    max_running_requests: int | None = None
