"""Posts a large multipart body with Python's http.client from N threads at once and prints what each
client read: `<status> <Retry-After>` or `error <exception>`. http.client writes the whole
body before it reads a byte of the answer, so it reads an early refusal only if the server
keeps reading (draining) the body until the end.

usage: refused_upload.py HOST PORT MEGABYTES CLIENTS [PATH]
"""

import http.client
import sys
import threading


def post(host, port, path, body, results, i):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "multipart/related; boundary=refused"},
        )
        resp = conn.getresponse()
        resp.read()
        results[i] = f"{resp.status} {resp.getheader('Retry-After')}"
    except Exception as e:  # noqa: BLE001 - the test reports whatever the client hit
        results[i] = f"error {type(e).__name__}"
    finally:
        conn.close()


def main():
    host, port, mb, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else "/"
    # A well-formed request (a JSON part and one large attachment), so a server with room
    # reads it all, as it would a real study.
    body = (
        b"--refused\r\nContent-Type: application/json\r\n\r\n{}\r\n"
        b"--refused\r\nContent-Type: application/octet-stream\r\n\r\n"
        + b"x" * (mb * 1000 * 1000)
        + b"\r\n--refused--\r\n"
    )
    results = [None] * clients
    threads = [threading.Thread(target=post, args=(host, port, path, body, results, i)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        print(r)


if __name__ == "__main__":
    main()
