/* Loaded into a recording (LD_PRELOAD) to make a commit that is on the disk and reported failed.
 *
 * Once the file named by SHUT_DOWN_AFTER_SYNC exists, the next fsync or fdatasync of a "-wal" file is done for
 * real (the log, with the commit, is on the disk), then the ext4 filesystem holding it is shut down as when a
 * drive stops answering (EXT4_IOC_SHUTDOWN, without flushing its journal), and the call reports EIO: the commit
 * went in and SQLite is told it failed. The file is removed, so that it happens once. With SYNC_FAILS_ONLY set
 * the filesystem is left running: only the confirmation is lost (a storage path that reports an error it recovered
 * from). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SHUTDOWN_REQUEST _IOR('X', 125, unsigned int)
#define WITHOUT_LOG_FLUSH 2u

static int shut_down_after(int fd, int result) {
    const char *trigger = getenv("SHUT_DOWN_AFTER_SYNC");
    char link[64], target[4096];
    ssize_t length;
    unsigned int how = WITHOUT_LOG_FLUSH;
    if (result != 0 || trigger == NULL || access(trigger, F_OK) != 0)
        return result;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    length = readlink(link, target, sizeof target - 1);
    if (length < 4)
        return result;
    target[length] = '\0';
    if (strcmp(target + length - 4, "-wal") != 0)
        return result;
    unlink(trigger);
    if (getenv("SYNC_FAILS_ONLY") == NULL)
        ioctl(fd, SHUTDOWN_REQUEST, &how);
    errno = EIO;
    return -1;
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return shut_down_after(fd, real(fd));
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return shut_down_after(fd, real(fd));
}
