"""What the local OpenAI-compatible test servers share: one `/v1/chat/completions` reply on the wire."""

import json


def send_completion(handler, model: str, message: dict, finish_reason: str) -> None:
    data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": model,
                       "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
