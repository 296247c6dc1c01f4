"""How clients reach the server: stdio wire, the stdio front, relay, shared service, HTTP."""
