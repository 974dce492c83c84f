class SamplingParams:
    max_new_tokens: int | None = 128
    temperature: float = 1.0
    top_p: float = 1.0
    # Renamed on purpose: the adapter sends json_schema.
    json_schema_text: str | None = None
    ebnf: str | None = None
    sampling_seed: int | None = None
