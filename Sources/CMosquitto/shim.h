#ifndef EDGEGATE_CMOSQUITTO_SHIM_H
#define EDGEGATE_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
