"""The hello-world Flask app every HTTP figure is compared with (same gunicorn settings)."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/")
def hello():  # type: ignore[no-untyped-def]
    request.get_json(silent=True)  # read the body, as the service does
    return jsonify(hello="world")


@app.get("/health")
def health():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")
