"""python run.py wakeword|synth ARGS...: the CLI with the embedding frontend patched in."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
import embfeat  # noqa: F401
cmd = sys.argv[1]
if cmd == "wakeword":
    from wakeword.cli import main
else:
    from synth.cli import main
sys.exit(main(sys.argv[2:]))
