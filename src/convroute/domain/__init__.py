"""The pure core: values, statuses and rules. Imports nothing but the standard library and
``phonenumbers`` (a pure parsing library); never a web framework, database driver or the CLI."""
