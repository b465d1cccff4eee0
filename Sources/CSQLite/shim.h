#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a destructor pointer, which Swift cannot import: these
// bind a copy of the caller's bytes, so the buffer may go away as soon as the call returns.
static inline int jobhost_sqlite3_bind_text_copy(sqlite3_stmt *statement, int index, const char *text, int bytes) {
    return sqlite3_bind_text(statement, index, text, bytes, SQLITE_TRANSIENT);
}

#include <sys/vfs.h>

// The filesystem type (statfs's f_type magic number) holding `path`, or -1 with errno set. Glibc's
// `struct statfs` and the function of the same name do not both import into Swift.
static inline long jobhost_filesystem_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long)info.f_type;
}
