/*
 * The Modbus TCP site both gateways of Benchmarks/compare.sh poll: N devices, each on its own
 * loopback port, each with R holding registers, served by ONE process (poll(2) over every
 * listening and connected socket), so that its CPU can be measured apart from the gateway's.
 *
 * Register 0 is the writable setpoint (kept as written, so a command's read-back can be
 * checked); registers 1..R-1 change on every read of the device (each one steps by one), so
 * a gateway that reports by exception still has every value to send.
 *
 * Usage: modbus-sim DEVICES [REGISTERS]
 * Prints "ports P1 P2 ... PN" on one line of standard output once every port listens (ports
 * the kernel picked on 127.0.0.1), then serves until SIGTERM or SIGINT.
 * Build: cc -O2 -o modbus-sim modbus-sim.c $(pkg-config --cflags --libs libmodbus)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <modbus.h>

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

struct device {
    modbus_t *ctx;               /* one libmodbus context per device; its socket is set per request */
    modbus_mapping_t *mapping;
    int listener;
};

/* One Modbus TCP frame (MBAP header, then the PDU its length announces) from a socket that
 * poll(2) reported readable. Not modbus_receive: libmodbus waits with select(2), which aborts
 * on descriptors above FD_SETSIZE (1024), and 700 devices need more than that. Returns the
 * frame's length, or -1 when the peer closed or sent something that is not a frame. */
static int receive_frame(int fd, uint8_t *frame) {
    ssize_t n = recv(fd, frame, 7, MSG_WAITALL);
    if (n != 7) return -1;
    int length = (frame[4] << 8) | frame[5];   /* unit id + PDU */
    if (length < 2 || 6 + length > MODBUS_TCP_MAX_ADU_LENGTH) return -1;
    n = recv(fd, frame + 7, (size_t)(length - 1), MSG_WAITALL);
    if (n != length - 1) return -1;
    return 6 + length;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s DEVICES [REGISTERS]\n", argv[0]);
        return 2;
    }
    int devices = atoi(argv[1]);
    int registers = argc == 3 ? atoi(argv[2]) : 100;
    if (devices < 1 || registers < 1 || registers > 125) {
        fprintf(stderr, "modbus-sim: DEVICES must be at least 1 and REGISTERS 1..125\n");
        return 2;
    }
    /* Every device has a listener and (usually) one connection: lift the soft limit. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct device *dev = calloc((size_t)devices, sizeof *dev);
    printf("ports");
    for (int i = 0; i < devices; i++) {
        dev[i].ctx = modbus_new_tcp("127.0.0.1", 0);
        dev[i].mapping = modbus_mapping_new(0, 0, registers, 0);
        if (dev[i].ctx == NULL || dev[i].mapping == NULL) {
            fprintf(stderr, "modbus-sim: out of memory\n");
            return 1;
        }
        modbus_set_response_timeout(dev[i].ctx, 1, 0);
        dev[i].mapping->tab_registers[0] = 215;   /* setpoint 21.5 at scale 0.1 */
        for (int r = 1; r < registers; r++)
            dev[i].mapping->tab_registers[r] = (uint16_t)((i * 131 + r * 7) % 1000);

        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 16) != 0
            || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
            fprintf(stderr, "modbus-sim: cannot listen for device %d: %s\n", i + 1, strerror(errno));
            return 1;
        }
        dev[i].listener = fd;
        printf(" %d", ntohs(addr.sin_port));
    }
    printf("\n");
    fflush(stdout);

    /* pollfd slots: the listeners first, then connections; owner[k] is the device of slot k. */
    int capacity = devices * 4 + 16, count = devices;
    struct pollfd *fds = calloc((size_t)capacity, sizeof *fds);
    int *owner = calloc((size_t)capacity, sizeof *owner);
    for (int i = 0; i < devices; i++) {
        fds[i].fd = dev[i].listener;
        fds[i].events = POLLIN;
        owner[i] = i;
    }
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    unsigned long long requests = 0;

    while (!stopping) {
        int ready = poll(fds, (nfds_t)count, 500);
        if (ready < 0) {
            if (errno == EINTR) continue;
            perror("modbus-sim: poll");
            return 1;
        }
        int known = count;   /* connections accepted in this round are polled from the next */
        for (int k = 0; k < known && ready > 0; k++) {
            if (fds[k].revents == 0) continue;
            ready--;
            int d = owner[k];
            if (k < devices) {
                int client = accept(fds[k].fd, NULL, NULL);
                if (client < 0) continue;
                int one = 1;
                setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (count == capacity) {
                    capacity *= 2;
                    fds = realloc(fds, (size_t)capacity * sizeof *fds);
                    owner = realloc(owner, (size_t)capacity * sizeof *owner);
                }
                fds[count].fd = client;
                fds[count].events = POLLIN;
                fds[count].revents = 0;
                owner[count] = d;
                count++;
                continue;
            }
            modbus_set_socket(dev[d].ctx, fds[k].fd);
            int rc = receive_frame(fds[k].fd, query);
            if (rc > 0) {
                int offset = modbus_get_header_length(dev[d].ctx);
                if (query[offset] == 0x03) {
                    uint16_t *regs = dev[d].mapping->tab_registers;
                    for (int r = 1; r < registers; r++) regs[r] = (uint16_t)((regs[r] + 1) % 1000);
                }
                modbus_reply(dev[d].ctx, query, rc, dev[d].mapping);
                requests++;
            } else if (rc < 0) {
                /* The peer closed or sent garbage: drop the connection, keep the slot list dense. */
                close(fds[k].fd);
                count--;
                fds[k] = fds[count];
                owner[k] = owner[count];
                if (count < known) {   /* the moved slot was polled this round: handle it now */
                    known--;
                    k--;
                }
            }
        }
    }
    fprintf(stderr, "modbus-sim: %llu requests answered\n", requests);
    for (int k = 0; k < count; k++) close(fds[k].fd);
    for (int i = 0; i < devices; i++) {
        modbus_mapping_free(dev[i].mapping);
        modbus_free(dev[i].ctx);
    }
    free(fds);
    free(owner);
    free(dev);
    return 0;
}
