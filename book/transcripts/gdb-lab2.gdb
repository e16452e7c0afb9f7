# The Lab 2 session of the debugging appendix (book/transcripts/gdb-lab2.cmd).
set trace-commands on
continue
info registers rip rsp rdx rcx eflags cs ss
x/2gx $rdx
info symbol *(unsigned long *)$rdx
info symbol *(unsigned long *)($rdx + 8)
p/x $gs_base
p/x $k_gs_base
x/12i $pc
stepi 11
x/i $pc
stepi
p/x $gs_base
p/x $k_gs_base
tbreak KiSystemServiceExit
continue
p/x *($rdi as *mut syslab_kernel::frame::KTrapFrame)
tbreak *0x7ffe0305
continue
info registers rip rsp cs ss eflags
bt
kill
