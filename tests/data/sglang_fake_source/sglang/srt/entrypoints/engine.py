class Engine:
    def generate(self, prompt=None, sampling_params=None, image_data=None):
        pass

    async def async_generate(
        self,
        prompt=None,
        sampling_params=None,
        input_ids=None,
        # Renamed on purpose: the adapter passes image_data.
        images=None,
        mm_hashes=None,
        return_logprob=False,
        stream: bool = False,
        *,
        cache_salt=None,
    ):
        pass
