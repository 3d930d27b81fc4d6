"""Wire dialects. Each translates its requests into commands and its results and errors into
its own responses, from one table; none holds business logic."""
