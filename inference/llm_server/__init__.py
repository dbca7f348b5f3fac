"""A local OpenAI-compatible chat endpoint serving the small SmolLM2 instruct model.

It lets the embedded default run every LLM mission with no API key: the worker points its
OpenAI base URL here. Layers follow the other servers: ``protocol`` (schemas),
``engine`` (the model, no FastAPI), ``serving`` (batching and usage accounting) and
``api_router`` (thin HTTP).
"""
