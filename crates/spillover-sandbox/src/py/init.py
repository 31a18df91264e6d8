# The sandbox's init (pid 1 of the native backend; under bubblewrap, the process the launcher
# execs). It starts the program, reaps orphans, and exits with the program's status (128 + n
# for a program killed by signal n). For programs that must finish (HumanEval), it also passes
# the harness's completion token back, only when the program ran to its end.
# argv: started_fd token_fd result_fd runner python program_path (fds are -1 when unused)
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
started, token, result = (int(x) for x in sys.argv[1:4])
runner, program = sys.argv[4], sys.argv[5:]
guarded = token >= 0
if guarded:
    # Not dumpable: the program (same uid) cannot open /proc/<this pid>/{mem,fd/*}, so neither
    # the token pipe nor the result pipe is reachable once the child has closed its copies.
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:
        os.write(2, b'sandbox init: prctl(PR_SET_DUMPABLE, 0) failed\n')
        os._exit(125)
    report_r, report_w = os.pipe()
    program = [program[0], '-c', runner, str(report_w)] + program[1:]
pid = os.fork()
if pid == 0:
    try:
        if guarded:
            os.close(token)
            os.close(result)
            os.close(report_r)
            os.set_inheritable(report_w, True)
        if started >= 0:
            os.write(started, b'1')
            os.close(started)
        os.execv(program[0], program)
    except BaseException as e:
        os.write(2, ('sandbox init: cannot start %s: %s\n' % (program[0], e)).encode())
    os._exit(127)
if started >= 0:
    os.close(started)
if guarded:
    os.close(report_w)
while True:
    try:
        done, status = os.wait()
    except ChildProcessError:
        os._exit(125)
    if done == pid:
        break
code = os.waitstatus_to_exitcode(status)
code = code if code >= 0 else 128 - code
if guarded:
    # Whatever the program left running dies before the token moves (it never enters this
    # process's memory: splice copies it from pipe to pipe in the kernel).
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    os.set_blocking(report_r, False)
    try:
        report = os.read(report_r, 16)
    except BlockingIOError:
        report = b''
    if code == 0 and report == b'done':
        if hasattr(os, 'splice'):
            os.splice(token, result, 256)
        else:
            os.write(result, os.read(token, 256))
os._exit(code)
