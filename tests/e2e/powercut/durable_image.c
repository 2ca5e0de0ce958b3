/*
 * A model of what survives a power cut, for the power-cut test.
 *
 * Preloaded into the process under test, it keeps a second copy of the
 * directory tree under $POWERCUT_ROOT that holds only what has been made
 * durable: a regular file's contents as of its last fsync or fdatasync, and a
 * directory's entries as of its own last fsync. Everything else (writes never
 * synced, files created or renamed in a directory that was not synced
 * afterwards, sync_file_range) is lost when the power goes, so the copy
 * leaves it out. The test rebuilds the tree from the copy after killing the
 * process, and that rebuilt tree is what the machine would find on reboot.
 *
 * The copy lives in $POWERCUT_IMAGE: files/<inode> holds a file's synced
 * bytes, dirs/<inode> a directory's synced entries, one per line:
 * "<d|f> <inode> <name>". Each is written to a temporary name and renamed,
 * so a kill in the middle leaves the previous copy whole. files/<inode>.seen
 * holds the size and modification time of the last copy, so that syncing a
 * file that has not changed since costs no copy.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static const char *root(void) { return getenv("POWERCUT_ROOT"); }
static const char *image(void) { return getenv("POWERCUT_IMAGE"); }

/* Whether the file open on fd lies under the modelled tree. */
static int modelled(int fd, char *path, size_t size) {
    const char *r = root();
    if (r == NULL || image() == NULL) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    size_t len = strlen(r);
    return strncmp(path, r, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static void finish(const char *tmp, const char *kind, ino_t ino) {
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/%s/%lu", image(), kind, (unsigned long)ino);
    rename(tmp, target);
}

static void copy_file(int fd, const struct stat *st) {
    ino_t ino = st->st_ino;
    char seen_path[PATH_MAX], seen[64], now[64];
    snprintf(seen_path, sizeof seen_path, "%s/files/%lu.seen", image(), (unsigned long)ino);
    snprintf(now, sizeof now, "%lld %lld.%09ld", (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    int in = open(seen_path, O_RDONLY);
    if (in >= 0) {
        ssize_t n = read(in, seen, sizeof seen - 1);
        close(in);
        if (n > 0) {
            seen[n] = '\0';
            if (strcmp(seen, now) == 0) return;
        }
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/files/.%lu.%d", image(), (unsigned long)ino, (int)gettid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) return;
    char buffer[1 << 16];
    off_t at = 0;
    for (;;) {
        ssize_t n = pread(fd, buffer, sizeof buffer, at);
        if (n <= 0) break;
        if (write(out, buffer, (size_t)n) != n) break;
        at += n;
    }
    close(out);
    finish(tmp, "files", ino);
    char seen_tmp[PATH_MAX];
    snprintf(seen_tmp, sizeof seen_tmp, "%s.%d", seen_path, (int)gettid());
    int mark = open(seen_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (mark >= 0) {
        if (write(mark, now, strlen(now)) == (ssize_t)strlen(now)) rename(seen_tmp, seen_path);
        close(mark);
    }
}

static void list_dir(const char *path, ino_t ino) {
    DIR *dir = opendir(path);
    if (dir == NULL) return;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/dirs/.%lu.%d", image(), (unsigned long)ino, (int)gettid());
    FILE *out = fopen(tmp, "w");
    if (out == NULL) {
        closedir(dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char child[PATH_MAX + 256];
        struct stat st;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        if (lstat(child, &st) != 0) continue;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
        fprintf(out, "%c %lu %s\n", S_ISDIR(st.st_mode) ? 'd' : 'f',
                (unsigned long)st.st_ino, e->d_name);
    }
    fclose(out);
    closedir(dir);
    finish(tmp, "dirs", ino);
}

/* Records what a successful sync of fd made durable. */
static void synced(int fd) {
    char path[PATH_MAX];
    if (!modelled(fd, path, sizeof path)) return;
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&lock);
    if (S_ISDIR(st.st_mode)) list_dir(path, st.st_ino);
    else if (S_ISREG(st.st_mode)) copy_file(fd, &st);
    pthread_mutex_unlock(&lock);
}

int fsync(int fd) {
    if (real_fsync == NULL) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int result = real_fsync(fd);
    if (result == 0) synced(fd);
    return result;
}

int fdatasync(int fd) {
    if (real_fdatasync == NULL) real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int result = real_fdatasync(fd);
    if (result == 0) synced(fd);
    return result;
}
