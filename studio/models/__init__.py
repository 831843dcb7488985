"""The torch side: loading models, model families, sampling. Imported only in the worker process."""
