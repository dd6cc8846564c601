"""A bare aiohttp JSON echo: the ceiling the chat API is compared against in the same run."""
import sys

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"session": data.get("session"), "messages": [{"text": data.get("text", ""), "buttons": []}],
                              "handoff": False})


def main() -> None:
    app = web.Application()
    app.router.add_post("/api/chat", echo)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
