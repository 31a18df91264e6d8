# Runs a program that must finish (HumanEval) as `python PATH` would, then reports on the fd
# given that it ran to its end. sys.exit, SystemExit and os._exit end it before the report.
# argv: report_fd program_path
import os, sys, types
_fd, _path = int(sys.argv[1]), sys.argv[2]
sys.argv = [_path]
sys.path[0] = os.path.dirname(_path)
_main = types.ModuleType('__main__')
_main.__file__ = _path
_main.__builtins__ = __builtins__
with open(_path, 'rb') as _f:
    _code = compile(_f.read(), _path, 'exec')
sys.modules['__main__'] = _main
exec(_code, _main.__dict__)
os.write(_fd, b'done')
