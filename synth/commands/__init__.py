"""One module per `synth` subcommand."""
