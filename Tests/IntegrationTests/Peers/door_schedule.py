"""An independent implementation of edgegate's DoorSchedule (Sources/DoorSimAdapter), written
from its documentation: Python's arbitrary-precision integers for xoshiro256**, SplitMix64 and
FNV-1a, and the C library's log for the exponential draw. The test compares its events with
the Swift ones, so a change in either the algorithm or its arithmetic shows.

Usage: door_schedule.py SEED DOOR OPEN_EVERY_MS OPEN_FOR_MS BATTERY BATTERY_DRAIN TAMPER_RATE COUNT
Prints COUNT events, one per line: "MILLISECONDS opened|closed|tamper on|tamper off|battery LEVEL"."""
import math
import sys

MASK = (1 << 64) - 1


def fnv1a(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Random:
    def __init__(self, seed, door):
        mixer = seed ^ fnv1a(door)
        self.s = []
        for _ in range(4):
            mixer = (mixer + 0x9E3779B97F4A7C15) & MASK
            z = mixer
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        self.s = [s0, s1, s2, rotl(s3, 45)]
        return result

    def unit(self):
        """Uniform in (0, 1]."""
        return ((self.next() >> 11) + 1) * 2.0 ** -53

    def exponential_ms(self, mean):
        """Rounded half away from zero, as Swift's rounded(), at least 1."""
        return max(1, math.floor(-mean * math.log(self.unit()) + 0.5))


def schedule(seed, door, open_every, open_for, battery, drain, tamper_rate, count):
    random = Random(seed, door)
    events, pending, closed_at, drops = [], [], 0, 0
    while len(events) < count:
        if not pending:
            opened = closed_at + random.exponential_ms(open_every - open_for)
            closed = opened + random.exponential_ms(open_for)
            tamper = random.unit() <= tamper_rate
            pending = [(opened, "opened")] + ([(opened, "tamper on")] if tamper else [])
            pending += [(closed, "closed")] + ([(closed, "tamper off")] if tamper else [])
            closed_at = closed
        if drain > 0 and drops < battery:
            at = math.floor((drops + 1) * 86_400_000 / drain + 0.5)
            if at < pending[0][0]:
                drops += 1
                events.append(f"{at} battery {battery - drops}")
                continue
        at, kind = pending.pop(0)
        events.append(f"{at} {kind}")
    return events


if __name__ == "__main__":
    seed, door, every, open_for, battery, drain, rate, count = sys.argv[1:9]
    print("\n".join(schedule(int(seed), door, int(every), int(open_for), int(battery), float(drain), float(rate), int(count))))
