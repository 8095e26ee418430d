/* /bin/fb in the fb initramfs: writes three 16-row stripes of known
 * colours (red from row 400, green from 432, blue from 464; 32 bpp) into
 * /dev/fb0 and waits a second. It writes through mmap, because the DRM
 * fbdev emulation of Debian's 6.1 kernels flushes its shadow buffer to the
 * card only for mmap'ed (deferred I/O) and console drawing, not for
 * write(2). No libc: raw Linux syscalls, built freestanding by
 * scripts/fetch-linux-guests.sh for x86-64 and i386. Exit status: 0, or
 * the step that failed. */

#define FBIOGET_VSCREENINFO 0x4600
#define FBIOGET_FSCREENINFO 0x4602
#define PROT_RW 3
#define MAP_SHARED 1
#define O_RDWR 2

#if defined(__x86_64__)
#define SYS_OPEN 2
#define SYS_IOCTL 16
#define SYS_MMAP 9
#define SYS_NANOSLEEP 35
#define SYS_EXIT 60
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
static long sys3(long n, long a, long b, long c)
{
    return sys6(n, a, b, c, 0, 0, 0);
}
static long map_shared(long fd, unsigned long len)
{
    return sys6(SYS_MMAP, 0, (long)len, PROT_RW, MAP_SHARED, fd, 0);
}
/* fb_fix_screeninfo: smem_len and line_length as 32-bit words. */
#define FIX_SMEM_LEN 6
#define FIX_LINE_LENGTH 12
#elif defined(__i386__)
#define SYS_OPEN 5
#define SYS_IOCTL 54
#define SYS_MMAP 90 /* old_mmap: one pointer to the six arguments */
#define SYS_NANOSLEEP 162
#define SYS_EXIT 1
static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}
static long map_shared(long fd, unsigned long len)
{
    long args[6] = {0, (long)len, PROT_RW, MAP_SHARED, fd, 0};
    return sys3(SYS_MMAP, (long)args, 0, 0);
}
#define FIX_SMEM_LEN 5
#define FIX_LINE_LENGTH 11
#else
#error "x86-64 or i386 only"
#endif

#define sys(n, a, b, c) sys3(n, (long)(a), (long)(b), (long)(c))

static void __attribute__((noreturn)) quit(long status)
{
    for (;;)
        sys(SYS_EXIT, status, 0, 0);
}

struct timespec_ {
    long sec, nsec;
};

void __attribute__((noreturn, force_align_arg_pointer)) _start(void)
{
    static const unsigned int colour[3] = {0x00ff0000, 0x0000ff00, 0x000000ff};
    unsigned int var[40], fix[20];
    long fd = sys(SYS_OPEN, "/dev/fb0", O_RDWR, 0);
    if (fd < 0)
        quit(1);
    if (sys(SYS_IOCTL, fd, FBIOGET_VSCREENINFO, var) < 0 ||
        sys(SYS_IOCTL, fd, FBIOGET_FSCREENINFO, fix) < 0)
        quit(2);
    unsigned long len = fix[FIX_SMEM_LEN], line = fix[FIX_LINE_LENGTH];
    unsigned long xres = var[0], yres = var[1], bpp = var[6];
    if (bpp != 32 || yres < 480 || line < 4 * xres)
        quit(3);
    long p = map_shared(fd, len);
    if (p < 0 && p > -4096)
        quit(4);
    for (unsigned long s = 0; s < 3; s++)
        for (unsigned long y = 400 + 32 * s; y < 416 + 32 * s; y++)
            for (unsigned long x = 0; x < xres; x++)
                *(volatile unsigned int *)(p + y * line + 4 * x) = colour[s];
    /* The deferred I/O worker copies the touched pages to the card. */
    struct timespec_ t = {1, 0};
    sys(SYS_NANOSLEEP, &t, 0, 0);
    quit(0);
}
