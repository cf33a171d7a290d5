"""moto's server mode, plus what the nth test bed needs and moto lacks.

moto records Auto Scaling lifecycle hooks but never fires them, and answers 500 to CompleteLifecycleAction and
RecordLifecycleActionHeartbeat (not implemented). This launcher adds:

- the two Auto Scaling calls, validated as AWS does: the hook must exist on the group, the token (or instance id)
  must name an action that is still waiting, the result must be CONTINUE or ABANDON; otherwise a
  ValidationError with AWS's message;
- a JSON control API under /_nth/ for tests:
    POST /_nth/lifecycle-actions  {"autoScalingGroupName", "lifecycleHookName", "instanceId", "region"?}
        puts the instance in Terminating:Wait (or Pending:Wait for a launch hook) and returns the new action with
        its lifecycleActionToken, as Auto Scaling would when the hook fires;
    GET  /_nth/lifecycle-actions?region=…   every action, with its state, result and heartbeat count.
Actions live on moto's Auto Scaling backend object, so POST /moto-api/reset clears them with everything else.

Usage: python nth_moto_server.py --host 127.0.0.1 --port 5000
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import EmptyResult
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

_lock = threading.Lock()
_WAIT_STATE = {
    "autoscaling:EC2_INSTANCE_TERMINATING": "Terminating:Wait",
    "autoscaling:EC2_INSTANCE_LAUNCHING": "Pending:Wait",
}


def _actions(backend):
    # Kept in the backend's own __dict__, which moto's reset throws away.
    return backend.__dict__.setdefault("_nth_lifecycle_actions", [])


def _instance_state(backend, group_name, instance_id):
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        return None
    for state in group.instance_states:
        if state.instance.id == instance_id:
            return state
    return None


def _find_waiting(backend, group_name, hook_name, token, instance_id):
    for action in _actions(backend):
        if (
            action["state"] == "waiting"
            and action["autoScalingGroupName"] == group_name
            and action["lifecycleHookName"] == hook_name
            and ((token and action["lifecycleActionToken"] == token) or (not token and action["instanceId"] == instance_id))
        ):
            return action
    return None


def _lifecycle_call(response, call):
    backend = response.autoscaling_backend
    group_name = response._get_param("AutoScalingGroupName")
    hook_name = response._get_param("LifecycleHookName")
    token = response._get_param("LifecycleActionToken")
    instance_id = response._get_param("InstanceId")
    if not token and not instance_id:
        raise ValidationError("A lifecycle action token or an instance ID must be specified.")
    if not backend.describe_lifecycle_hooks(group_name, [hook_name]):
        raise ValidationError(f"No Lifecycle Hook found with name {hook_name} for group {group_name}")
    with _lock:
        action = _find_waiting(backend, group_name, hook_name, token, instance_id)
        if action is None:
            what = f"token {token}" if token else f"instance ID {instance_id}"
            raise ValidationError(f"No active Lifecycle Action found with {what}")
        action["calls"].append({"call": call, "at": time.time()})
        return backend, action


def complete_lifecycle_action(self):
    result = self._get_param("LifecycleActionResult")
    if result not in ("CONTINUE", "ABANDON"):
        raise ValidationError(f"Invalid value for LifecycleActionResult: {result}. Valid values: CONTINUE, ABANDON")
    backend, action = _lifecycle_call(self, "CompleteLifecycleAction")
    with _lock:
        action["state"] = "completed"
        action["result"] = result
        action["completedAt"] = time.time()
        state = _instance_state(backend, action["autoScalingGroupName"], action["instanceId"])
        if state is not None:
            terminating = action["transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
            state.lifecycle_state = (
                "Terminating:Proceed" if terminating else ("InService" if result == "CONTINUE" else "Terminating")
            )
    return EmptyResult()


def record_lifecycle_action_heartbeat(self):
    _, action = _lifecycle_call(self, "RecordLifecycleActionHeartbeat")
    with _lock:
        action["heartbeats"] += 1
    return EmptyResult()


AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


def _json(status, body):
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _control(request):
    region = request.args.get("region") or os.environ.get("AWS_REGION") or "us-east-1"
    if request.method == "GET":
        backend = autoscaling_backends[DEFAULT_ACCOUNT_ID][region]
        with _lock:
            return _json(200, {"lifecycleActions": list(_actions(backend))})
    if request.method != "POST":
        return _json(405, {"message": "use GET or POST"})
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError as error:
        return _json(400, {"message": f"body is not JSON: {error}"})
    missing = [k for k in ("autoScalingGroupName", "lifecycleHookName", "instanceId") if not body.get(k)]
    if missing:
        return _json(400, {"message": f"missing fields: {', '.join(missing)}"})
    backend = autoscaling_backends[DEFAULT_ACCOUNT_ID][body.get("region") or region]
    hooks = backend.describe_lifecycle_hooks(body["autoScalingGroupName"], [body["lifecycleHookName"]])
    if not hooks:
        return _json(404, {"message": "no such lifecycle hook on that group"})
    transition = hooks[0].lifecycle_transition
    action = {
        "lifecycleActionToken": str(uuid.uuid4()),
        "autoScalingGroupName": body["autoScalingGroupName"],
        "lifecycleHookName": body["lifecycleHookName"],
        "instanceId": body["instanceId"],
        "transition": transition,
        "state": "waiting",
        "result": None,
        "heartbeats": 0,
        "startedAt": time.time(),
        "completedAt": None,
        "calls": [],
    }
    with _lock:
        _actions(backend).append(action)
        state = _instance_state(backend, body["autoScalingGroupName"], body["instanceId"])
        if state is not None:
            state.lifecycle_state = _WAIT_STATE.get(transition, state.lifecycle_state)
    return _json(201, action)


class NthApplication:
    def __init__(self, moto_app):
        self.moto_app = moto_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_nth/lifecycle-actions"):
            return _control(Request(environ))(environ, start_response)
        return self.moto_app(environ, start_response)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto_app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, NthApplication(moto_app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
