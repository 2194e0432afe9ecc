"""The kernel log as /dev/kmsg records, read from a position on.

A reader opened at the end of the log sees exactly the records logged after
it was opened; unlike an offset into dmesg's output, that stays right when
the ring buffer wraps (overwritten records are skipped, not misread)."""
import os


def open_at_end():
    """A non-blocking /dev/kmsg descriptor positioned after the last record."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    return fd


def read_new(fd):
    """The messages of the records logged since fd's position, which moves on."""
    out = []
    while True:
        try:
            rec = os.read(fd, 8192)
        except BlockingIOError:
            break
        except BrokenPipeError:  # records overwritten: keep reading
            continue
        if not rec:
            break
        # "prio,seq,time,flags;message" + continuation lines
        text = rec.decode(errors="replace")
        out.append(text.split(";", 1)[1] if ";" in text else text)
    return "".join(out)


class KernelLog:
    """What the kernel logs from now on: take() returns what came since the
    last take() (or since the object was made)."""

    def __init__(self):
        self.fd = open_at_end()

    def take(self):
        return read_new(self.fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        self.close()
