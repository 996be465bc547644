"""Runs a program the way MemoryDenyWriteExecute=yes in packaging/edgegate.service does: with
the kernel's memory-deny-write-execute (prctl PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, Linux 6.3
and later; what systemd itself uses when the kernel has it), inherited across execve.

Usage: mdwe_exec.py PROGRAM [ARGUMENT...]. Prints "mdwe 1" to standard error once it is on."""

import ctypes
import os
import sys

PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(f"prctl(PR_SET_MDWE): {os.strerror(ctypes.get_errno())}")
print("mdwe", libc.prctl(PR_GET_MDWE, 0, 0, 0, 0), file=sys.stderr, flush=True)
os.execv(sys.argv[1], sys.argv[1:])
