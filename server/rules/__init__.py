"""Text rules: pure functions over text (secrets, signals, intent forms, scopes). No models, no store."""
