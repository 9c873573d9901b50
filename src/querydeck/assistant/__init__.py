"""The assistant: questions in plain language to guarded SQL.

``endpoints`` (registered model servers) and ``client`` (the OpenAI-compatible HTTP
protocol), ``inference`` (the log of every call), ``retrieval`` (candidate tables: a
lexical index, a value index, optional embeddings, foreign-key expansion), ``prompts``,
``checks`` (guard, catalog names, EXPLAIN), ``pipeline`` (one question, with bounded
corrections), ``knowledge`` (examples and glossary), ``evaluation`` (the accuracy harness)
and ``service`` (the one object the Workbench holds as ``workbench.assistant``).
"""
