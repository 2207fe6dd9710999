/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The control socket of udfcrond (README "Control socket"): a Unix stream
 * socket in the daemon's one event loop, speaking JSON lines (control-proto.h)
 * with udfcronctl. Nothing here can hold the loop: sockets are non-blocking,
 * a request is bounded in size (CONTROL_REQUEST_MAX) and in time
 * (control_timeout), connections in number, and a client that reads a run's
 * events too slowly loses output lines (and is told how many), never the
 * daemon's time. The peer's credentials (SO_PEERCRED) decide who may change
 * anything: root, the daemon's own user, and members of control_group.
 */

typedef struct Control Control;
typedef struct Manager Manager;

/*
 * Listens on the manager's control_socket (its configuration is loaded):
 * creates the socket's directory when missing, replaces a stale socket file,
 * and refuses (-EADDRINUSE) when another daemon listens there. Errors are
 * logged.
 */
int control_new(Manager *manager, Control **ret_control);
/* Closes every connection (watchers detach) and removes the socket file if it is still ours. */
Control *control_free(Control *c);

#include "cleanup.h"
DEFINE_TRIVIAL_CLEANUP_FUNC(Control *, control_free);
