#ifndef EDGEGATE_CSQLITE_SHIM_H
#define EDGEGATE_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import:
 * re-export it. Binding with it makes SQLite copy the value at once, so a Swift buffer only
 * has to live for the duration of the bind call. */
static inline sqlite3_destructor_type CSQLite_transient(void) { return SQLITE_TRANSIENT; }
#endif
