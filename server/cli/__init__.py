"""The command line: commands, the Claude Code hooks, token commands."""
