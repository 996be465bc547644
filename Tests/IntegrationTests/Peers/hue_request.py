"""One HTTP request to a Hue bridge (or edgegate's simulator) with Python's own HTTP client,
independent of edgegate's, and no proxy whatever the environment says.

Usage: hue_request.py METHOD URL [BODY]
Prints the answer's body and exits 0, or prints the error and exits 1."""
import sys
import urllib.request


def main():
    method, url = sys.argv[1], sys.argv[2]
    body = sys.argv[3].encode() if len(sys.argv) > 3 else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=10) as answer:
            print(answer.read().decode())
    except Exception as e:  # noqa: BLE001 - any failure is the test's to report
        print(f"{type(e).__name__}: {e}")
        sys.exit(1)


main()
