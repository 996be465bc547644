#ifndef EDGEGATE_CMODBUS_SHIM_H
#define EDGEGATE_CMODBUS_SHIM_H
#include <modbus.h>
#include <errno.h>

/* libmodbus defines its exception codes as macros built from an enum expression that Swift
 * cannot import ("structure not supported"); re-export them as plain constants. */
static const int CModbus_EMBXILFUN = EMBXILFUN;
static const int CModbus_EMBXILADD = EMBXILADD;
static const int CModbus_EMBXILVAL = EMBXILVAL;
static const int CModbus_EMBXSFAIL = EMBXSFAIL;
static const int CModbus_EMBXACK = EMBXACK;
static const int CModbus_EMBXSBUSY = EMBXSBUSY;
static const int CModbus_EMBXNACK = EMBXNACK;
static const int CModbus_EMBXMEMPAR = EMBXMEMPAR;
static const int CModbus_EMBXGPATH = EMBXGPATH;
static const int CModbus_EMBXGTAR = EMBXGTAR;
static const int CModbus_EMBBADCRC = EMBBADCRC;
static const int CModbus_EMBBADDATA = EMBBADDATA;
static const int CModbus_EMBBADEXC = EMBBADEXC;
static const int CModbus_EMBMDATA = EMBMDATA;
static const int CModbus_EMBBADSLAVE = EMBBADSLAVE;

static inline int CModbus_errno(void) { return errno; }
#endif
