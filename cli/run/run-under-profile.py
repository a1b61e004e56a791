"""Run a command under an OCI `linux.seccomp` profile, loaded the way runc loads it.

Usage: /usr/bin/python3 run-under-profile.py PROFILE.json -- CMD [ARGS...]
(`seccompose run --profile PROFILE.json -- CMD` runs it; so do the tests, through test/helpers/enforce.ts.)

Needs Debian's python3-seccomp, so run it with /usr/bin/python3 (not a pyenv python).

What follows runc (libcontainer/seccomp/seccomp_linux.go, seccomp/config.go):
- actions: SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD kill the thread; SCMP_ACT_ERRNO and
  SCMP_ACT_TRACE take `errnoRet`/`defaultErrnoRet`, default EPERM;
- only runc's 18 architecture names are accepted; the native one is already in the filter;
- a syscall name libseccomp cannot resolve is skipped; a rule whose action (errno included)
  equals the default action is skipped;
- SCMP_CMP_MASKED_EQ passes `value` as the mask and `valueTwo` as the datum;
- when one rule compares the same argument index twice, every condition of that rule becomes a
  rule of its own (so the conditions are ORed, not ANDed);
- flags: TSYNC is ignored, LOG and SPEC_ALLOW set the matching filter attributes.

Where it differs from runc:
- no_new_privs is set so the filter loads without CAP_SYS_ADMIN;
- runc's ENOSYS stub (syscalls newer than any named in the profile fail with ENOSYS) is not
  reproduced: they get the default action like every other unlisted syscall;
- `defaultErrnoRet` with a default action that takes no errno is rejected, as the runtime
  spec requires (runc ignores it); SCMP_ACT_NOTIFY and WAIT_KILLABLE_RECV are rejected.

Everything, including the PATH lookup, happens before load(); after it only `execve` runs, so a
profile needs nothing for this runner beyond `execve` (test/helpers/enforce.test.ts checks it).
If that execve fails, the runner exits 127 (not found) or 126 (any other error).

Exit 2 and a message on stderr mean the profile or the usage was wrong.
"""

import errno
import json
import os
import shutil
import sys

import seccomp

ARCHITECTURES = {
    "SCMP_ARCH_X86": "X86",
    "SCMP_ARCH_X86_64": "X86_64",
    "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM",
    "SCMP_ARCH_AARCH64": "AARCH64",
    "SCMP_ARCH_MIPS": "MIPS",
    "SCMP_ARCH_MIPS64": "MIPS64",
    "SCMP_ARCH_MIPS64N32": "MIPS64N32",
    "SCMP_ARCH_MIPSEL": "MIPSEL",
    "SCMP_ARCH_MIPSEL64": "MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32",
    "SCMP_ARCH_PPC": "PPC",
    "SCMP_ARCH_PPC64": "PPC64",
    "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_RISCV64": "RISCV64",
    "SCMP_ARCH_S390": "S390",
    "SCMP_ARCH_S390X": "S390X",
    "SCMP_ARCH_LOONGARCH64": "LOONGARCH64",
}

OPERATORS = {
    "SCMP_CMP_NE": seccomp.NE,
    "SCMP_CMP_LT": seccomp.LT,
    "SCMP_CMP_LE": seccomp.LE,
    "SCMP_CMP_EQ": seccomp.EQ,
    "SCMP_CMP_GE": seccomp.GE,
    "SCMP_CMP_GT": seccomp.GT,
    "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ,
}

ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
MAX_ARGS = 6
MAX_U64 = 2**64 - 1


class ProfileError(Exception):
    pass


def is_uint(value, limit):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def action_of(name, errno_ret, where):
    if errno_ret is not None and not is_uint(errno_ret, 2**32 - 1):
        raise ProfileError(f"{where}: errno must be an unsigned integer, got {errno_ret!r}")
    code = errno.EPERM if errno_ret is None else errno_ret
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(code)
    if name == "SCMP_ACT_TRACE":
        return seccomp.TRACE(code)
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    if name == "SCMP_ACT_NOTIFY":
        raise ProfileError(f"{where}: SCMP_ACT_NOTIFY needs a listener, which this runner has not")
    raise ProfileError(f"{where}: unknown action {name!r}")


def condition_of(arg, where):
    if not isinstance(arg, dict):
        raise ProfileError(f"{where}: must be an object")
    index = arg.get("index")
    if not is_uint(index, MAX_ARGS - 1):
        raise ProfileError(f"{where}.index: must be 0..{MAX_ARGS - 1}, got {index!r}")
    op = arg.get("op")
    if op not in OPERATORS:
        raise ProfileError(f"{where}.op: unknown operator {op!r}")
    # A missing value reads as 0, as in runc (SPO omits zero values).
    value = arg.get("value", 0)
    value_two = arg.get("valueTwo", 0)
    for field, datum in (("value", value), ("valueTwo", value_two)):
        if not is_uint(datum, MAX_U64):
            raise ProfileError(f"{where}.{field}: must be an unsigned 64-bit integer, got {datum!r}")
    return index, seccomp.Arg(index, OPERATORS[op], value, value_two)


def add_rules(flt, entry, default_action, where):
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: must be an object")
    names = entry.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ProfileError(f"{where}.names: must be a non-empty list of syscall names")
    action = action_of(entry.get("action"), entry.get("errnoRet"), f"{where}.action")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise ProfileError(f"{where}.args: must be a list")
    conditions = [condition_of(arg, f"{where}.args[{i}]") for i, arg in enumerate(args)]
    indexes = [index for index, _ in conditions]
    if len(set(indexes)) < len(indexes):
        # runc's fallback: one rule per condition when an index repeats.
        rule_sets = [[cond] for _, cond in conditions]
    else:
        rule_sets = [[cond for _, cond in conditions]]
    if action == default_action:
        return
    for name in names:
        if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) == -1:
            continue
        for rule in rule_sets:
            try:
                flt.add_rule(action, name, *rule)
            except (RuntimeError, ValueError) as err:
                raise ProfileError(f"{where}: libseccomp refused the rule for {name!r}: {err}") from err


def build_filter(profile):
    if not isinstance(profile, dict):
        raise ProfileError("the profile must be a JSON object (an OCI linux.seccomp section)")
    default_name = profile.get("defaultAction")
    default_errno = profile.get("defaultErrnoRet")
    if default_errno is not None and default_name not in ERRNO_ACTIONS:
        raise ProfileError(f"defaultErrnoRet: not allowed with defaultAction {default_name!r}")
    default_action = action_of(default_name, default_errno, "defaultAction")
    flt = seccomp.SyscallFilter(default_action)
    flt.set_attr(seccomp.Attr.CTL_NNP, 1)

    architectures = profile.get("architectures") or []
    if not isinstance(architectures, list):
        raise ProfileError("architectures: must be a list")
    for i, name in enumerate(architectures):
        if name not in ARCHITECTURES:
            raise ProfileError(f"architectures[{i}]: {name!r} is not a valid arch for seccomp")
        arch = getattr(seccomp.Arch, ARCHITECTURES[name], None)
        if arch is None:
            raise ProfileError(f"architectures[{i}]: {name} is not supported by this libseccomp")
        if not flt.exist_arch(arch):
            flt.add_arch(arch)

    flags = profile.get("flags") or []
    if not isinstance(flags, list):
        raise ProfileError("flags: must be a list")
    for i, flag in enumerate(flags):
        if flag == "SECCOMP_FILTER_FLAG_TSYNC":
            continue
        if flag == "SECCOMP_FILTER_FLAG_LOG":
            flt.set_attr(seccomp.Attr.CTL_LOG, 1)
        elif flag == "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
            flt.set_attr(seccomp.Attr.CTL_SSB, 1)
        else:
            raise ProfileError(f"flags[{i}]: {flag!r} is not supported")

    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise ProfileError("syscalls: must be a list")
    for i, entry in enumerate(syscalls):
        add_rules(flt, entry, default_action, f"syscalls[{i}]")
    return flt


def fail(message, code):
    print(f"run-under-profile: {message}", file=sys.stderr)
    sys.exit(code)


def read_filter(profile_path):
    try:
        with open(profile_path, encoding="utf-8") as handle:
            profile = json.load(handle)
    except (OSError, ValueError) as err:
        fail(f"{profile_path}: cannot read the profile: {err}", 2)
    try:
        return build_filter(profile)
    except ProfileError as err:
        fail(f"{profile_path}: {err}", 2)


def main(argv):
    # --check PROFILE: build the filter without loading it (exit 0), so that a caller can tell a
    # bad profile (exit 2 here) from a command that exits 2 itself.
    if len(argv) == 3 and argv[1] == "--check":
        read_filter(argv[2])
        sys.exit(0)
    if len(argv) < 4 or argv[2] != "--":
        fail("usage: run-under-profile.py PROFILE.json -- CMD [ARGS...] | --check PROFILE.json", 2)
    profile_path, command = argv[1], argv[3:]
    flt = read_filter(profile_path)

    executable = command[0] if "/" in command[0] else shutil.which(command[0])
    if executable is None:
        fail(f"{command[0]}: command not found", 127)

    flt.load()
    try:
        os.execv(executable, command)
    except OSError as err:
        # stderr may itself be denied by now; the exit status still tells.
        os.write(2, f"run-under-profile: {executable}: {err.strerror}\n".encode())
        os._exit(127 if err.errno == errno.ENOENT else 126)


if __name__ == "__main__":
    main(sys.argv)
