# The jail's exec helper (src/sandbox/jail-exec-helper.ts embeds the assembled bytes; test/unit/sandbox-helper.test.ts
# checks they match): as -o h.o jail-exec-helper.x86_64.s && objcopy -O binary -j .text h.o h.bin
    .text
    .globl _start
_start:
    mov %rsp, %r13              # initial stack: argc, argv..., NULL, envp...
    mov (%r13), %r12            # argc
    cmp $3, %r12
    jb die
    mov $5, %r14d               # join the cgroups open on fds 5 and 6 (EBADF: none given)
join:
    mov $1, %eax
    mov %r14d, %edi
    lea zero(%rip), %rsi
    mov $2, %edx
    syscall
    cmp $-9, %rax
    je joined
    test %rax, %rax
    js die
joined:
    mov $3, %eax                # close(fd)
    mov %r14d, %edi
    syscall
    inc %r14d
    cmp $7, %r14d
    jb join
    mov $272, %eax              # unshare(CLONE_NEWCGROUP): /proc/self/cgroup reads "/" in every jail
    mov $0x02000000, %edi
    syscall
    sub $48, %rsp               # rlimits from the host on fd 3: FSIZE, AS, NPROC as {cur, max}
    xor %eax, %eax
    mov $3, %edi
    mov %rsp, %rsi
    mov $48, %edx
    syscall
    cmp $48, %rax
    jne die
    xor %r14d, %r14d
limit:
    lea resources(%rip), %rax
    movzbl (%rax,%r14), %esi
    mov %r14, %rdx
    shl $4, %rdx
    add %rsp, %rdx
    cmpq $-1, (%rdx)            # cur = RLIM_INFINITY: leave this one as it is
    je next
    mov $302, %eax              # prlimit64(0, resource, new, NULL)
    xor %edi, %edi
    xor %r10d, %r10d
    syscall
    test %rax, %rax
    jnz die
next:
    inc %r14d
    cmp $3, %r14d
    jb limit
    mov $436, %eax              # close_range(4, ~0, 0): no descriptor gg (or its caller) inherited reaches
    mov $4, %edi                # the program; fd 3 is close-on-exec, 0-2 are the run's own log
    mov $-1, %esi
    xor %edx, %edx
    syscall
    test %rax, %rax
    jnz die
    mov $116, %eax              # setgroups(0, NULL)
    xor %edi, %edi
    xor %esi, %esi
    syscall
    test %rax, %rax
    jnz die
    mov $119, %eax              # setresgid(1000, 1000, 1000)
    mov $1000, %edi
    mov %edi, %esi
    mov %edi, %edx
    syscall
    test %rax, %rax
    jnz die
    mov $117, %eax              # setresuid(1000, 1000, 1000): drops every capability
    mov $1000, %edi
    mov %edi, %esi
    mov %edi, %edx
    syscall
    test %rax, %rax
    jnz die
    mov $72, %eax               # fcntl(3, F_SETFD, FD_CLOEXEC)
    mov $3, %edi
    mov $2, %esi
    mov $1, %edx
    syscall
    mov $1, %eax                # write(3, "R", 1)
    mov $3, %edi
    lea ready(%rip), %rsi
    mov $1, %edx
    syscall
    mov $57, %eax               # fork: the child runs the program, we stay PID 1 of the jail and reap
    syscall
    test %rax, %rax
    js die
    jnz init
    mov 16(%r13), %rdi          # execve(argv[1], &argv[2], envp)
    lea 24(%r13), %rsi
    lea 16(%r13,%r12,8), %rdx
    mov $59, %eax
    syscall
    neg %rax                    # failed: write(3, "E" errno, 2), exit 127
    movb $69, (%rsp)
    mov %al, 1(%rsp)
    mov $1, %eax
    mov $3, %edi
    mov %rsp, %rsi
    mov $2, %edx
    syscall
    mov $127, %edi
    mov $231, %eax
    syscall
init:
    mov %rax, %r15              # the program's pid
    mov $434, %eax              # pidfd_open(pid, 0): readable when the program ends
    mov %r15, %rdi
    xor %esi, %esi
    syscall
    test %rax, %rax
    js die
    mov %rax, %r14
wait:
    # We are PID 1 of the jail: our end ends every process in it. gg holds the other end of fd 3, and no
    # parent-death signal reaches a namespace's init, so poll({3, POLLRDHUP}, {pidfd, POLLIN}, 1 s): a hang-up
    # on fd 3 means gg is gone (SIGKILL, crash) and so must we be; the timeout reaps orphans now and then.
    movl $3, 8(%rsp)
    movl $0x2000, 12(%rsp)
    mov %r14d, 16(%rsp)
    movl $1, 20(%rsp)
    mov $7, %eax
    lea 8(%rsp), %rdi
    mov $2, %esi
    mov $1000, %edx
    syscall
    testw $0x2038, 14(%rsp)     # POLLRDHUP | POLLNVAL | POLLHUP | POLLERR on fd 3
    jnz orphaned
reap:
    mov $61, %eax               # wait4(-1, &status, WNOHANG, NULL): every orphan of the jail comes to us
    mov $-1, %rdi
    mov %rsp, %rsi
    mov $1, %edx
    xor %r10d, %r10d
    syscall
    test %rax, %rax
    jle wait                    # none ended (0) or none left (-ECHILD, never while the program runs)
    cmp %r15, %rax
    jne reap
    mov (%rsp), %ecx            # the program ended: exit with its status, 128 + signal if killed
    mov %ecx, %edi
    and $0x7f, %edi
    jz exited
    add $128, %edi
    jmp leave
exited:
    mov %ecx, %edi
    shr $8, %edi
    and $0xff, %edi
leave:
    mov $231, %eax
    syscall
orphaned:
    mov $137, %edi              # exit_group(128 + SIGKILL): the jail dies with us
    mov $231, %eax
    syscall
die:
    mov $1, %eax                # write(2, message), exit_group(126)
    mov $2, %edi
    lea message(%rip), %rsi
    mov $(message_end - message), %edx
    syscall
    mov $126, %edi
    mov $231, %eax
    syscall
zero:
    .ascii "0\n"
resources:
    .byte 1, 9, 6
ready:
    .byte 82
message:
    .ascii "gg: the jail's exec helper could not set up the thunk's process\n"
message_end:
