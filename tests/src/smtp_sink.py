"""An SMTP server for tests (aiosmtpd), storing accepted mail in a maildir.

usage: smtp_sink.py PORT MAILDIR MODE  (PORT 0: a free one; the port is printed on stdout)

MODE says how it answers:
  accept       250 to everything
  busy-once    421 to the first DATA, then 250 (a transient failure, then success)
  reject-rcpt  550 to every RCPT (a permanent failure)
  reject-data  554 to every DATA (a permanent failure)
  auth-reject  requires AUTH and refuses every credential with 535
"""

import asyncio
import mailbox
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult


class Handler:
    def __init__(self, maildir, mode):
        self.box = mailbox.Maildir(maildir, create=True)
        self.mode = mode
        self.data_calls = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "reject-rcpt":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.mode == "busy-once" and self.data_calls == 1:
            return "421 4.3.2 busy, try again later"
        if self.mode == "reject-data":
            return "554 5.7.1 message refused"
        self.box.add(envelope.original_content)
        return "250 2.0.0 queued as %d" % self.data_calls


def refuse(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


async def serve(port, maildir, mode):
    options = {}
    if mode == "auth-reject":
        options = dict(authenticator=refuse, auth_required=True, auth_require_tls=False)
    handler = Handler(maildir, mode)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options), host="127.0.0.1", port=port)
    # The port it listens on (port 0 picks a free one): the test reads it from this line.
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main():
    warnings.simplefilter("ignore")
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()
