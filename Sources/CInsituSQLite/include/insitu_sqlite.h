#ifndef INSITU_SQLITE_H
#define INSITU_SQLITE_H

// sqlite3_db_config is variadic, which Swift cannot call: this wrapper takes the one form the
// SQL engine uses (an int setting, no out-parameter). The handle stays opaque here so this
// header does not redeclare sqlite3.h beside GRDB's SQLite module.
typedef struct sqlite3 sqlite3;

int insitu_sqlite_db_config_int(sqlite3 *db, int op, int value);

#endif
