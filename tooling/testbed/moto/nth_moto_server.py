"""moto's server mode, plus what the nth test bed needs and moto lacks.

moto records Auto Scaling lifecycle hooks but never fires them, and answers 500 to CompleteLifecycleAction and
RecordLifecycleActionHeartbeat (not implemented). Its SQS rescans a whole queue, several times over, on every
send, receive and delete: one ReceiveMessage of 10 from a queue of 1000 takes ~1.1 s. This launcher adds:

- the two Auto Scaling calls, validated as AWS does: the hook must exist on the group, the token (or instance id)
  must name an action that is still waiting, the result must be CONTINUE or ABANDON; otherwise a
  ValidationError with AWS's message;
- a JSON control API under /_nth/ for tests:
    POST /_nth/lifecycle-actions  {"autoScalingGroupName", "lifecycleHookName", "instanceId", "region"?}
        puts the instance in Terminating:Wait (or Pending:Wait for a launch hook) and returns the new action with
        its lifecycleActionToken, as Auto Scaling would when the hook fires;
    GET  /_nth/lifecycle-actions?region=…   every action, with its state, result and heartbeat count.
Actions live on moto's Auto Scaling backend object, so POST /moto-api/reset clears them with everything else.

It also replaces how moto's SQS queues hold their messages (see "SQS" below): a send, receive or delete costs the
messages it touches, whatever the queue's length, with moto's semantics otherwise kept; and gives EC2's
DescribeInstances filtered by instance id, and the tags of one resource, a shorter path (see "EC2" below).

Usage: python nth_moto_server.py --host 127.0.0.1 --port 5000
"""

import argparse
import heapq
import itertools
import json
import os
import signal
import string
import sys
import threading
import time
import uuid
from copy import copy, deepcopy

from moto import backends as moto_backends
from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import EmptyResult
from moto.core.utils import unix_time_millis
from moto.moto_api._internal import mock_random as moto_random
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sqs import models as moto_sqs_models
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import (
    DEDUPLICATION_TIME_IN_SECONDS,
    Queue,
    SQSBackend,
    _filter_message_attributes,
    sqs_backends,
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


# SQS: moto keeps a queue's messages in one list and rescans it on every access: `Queue.messages` re-evaluates
# every message's visibility and delay, each receive checks each returned message's retention through
# `queue.attributes`, which counts the queue three times over (ApproximateNumberOf*), each send builds
# `queue.attributes` too, and a delete searches and rebuilds the list. A ReceiveMessage of 10 from a
# 1000-message queue took ~1.1 s; 1000 messages received and deleted took 45-57 s whatever the number of
# receivers, so a 1000-notice benchmark of nth measured moto. Below, each queue keeps its messages where each
# operation only touches the messages it returns or changes:
#   ready     a heap by send order of the messages a receive may return (send order so FIFO groups stay ordered,
#             and a standard queue returns the oldest first, as moto's scan did);
#   in flight a heap by visibility deadline; a receive first moves the expired ones back to ready;
#   delayed   a heap by the end of their DelaySeconds, moved to ready the same way;
# plus indexes by receipt handle (delete, ChangeMessageVisibility) and deduplication id (FIFO sends), and the
# three counts that ApproximateNumberOf* report. Heap entries carry the message's token, bumped whenever the
# message moves, so an entry left behind by a move is skipped when it surfaces (no search to remove it).
# Everything happens under the queue's own lock, which moto had but did not hold while receiving: concurrent
# receivers no longer get the same message twice. Long polling waits on that lock's condition, woken by a send
# or a visibility change, and otherwise only until the next in-flight or delayed message is due.
# Measured with scripts/sqs-ceiling.ts on 2 cores (1000 messages sent with SendMessageBatch, then ReceiveMessage of
# 10 + DeleteMessageBatch): moto alone sent them in 15 s and drained them in 45 s with 1 receiver (22 msg/s), 51 s
# with 4 (20 msg/s, 2 messages delivered twice); patched, 1.0 s to send, 1.8 s to drain with 1 receiver
# (560 msg/s), 1.15 s with 4 (870 msg/s). What is left is moto's per-request cost (~3-6 ms), not the queue's.
# Semantics kept from moto: VisibilityTimeout (per queue or per receive; 0 leaves the message visible),
# ChangeMessageVisibility (through any receipt handle the message ever had, 43200 s cap), receive counts and
# first-receive timestamps, a delete through any old handle and a repeated delete both succeed, redrive of the
# same message object to the DLQ on the receive after its maxReceiveCount-th, FIFO: no receive from a group with
# a message in flight, order within a group, deduplication against the messages still in the queue for 5
# minutes. One change: a message past the queue's MessageRetentionPeriod is dropped as SQS drops it (moto
# received it, kept it in flight without returning it, and ended the receive there).

_clock_ms = unix_time_millis


class _MessageStore:
    def __init__(self, queue):
        self.queue = queue
        self.live = {}  # seq -> message, in send order
        self.ready = []  # (seq, token, message)
        self.in_flight = []  # (visible_at, seq, token, message)
        self.delayed = []  # (delayed_until, seq, token, message)
        self.counts = {"ready": 0, "in_flight": 0, "delayed": 0}
        self.handles = {}  # every receipt handle a live message ever had -> message
        self.dedup = {}  # deduplication id -> live messages with it

    def add(self, message, now):
        message._nth_seq = next(_sequence)
        self.live[message._nth_seq] = message
        for handle in message.all_receipt_handles:  # a message redriven from another queue keeps its handles
            if handle is not None:
                self.handles[handle] = message
        if message.deduplication_id is not None:
            self.dedup.setdefault(message.deduplication_id, []).append(message)
        self.place(message, now)

    def remove(self, message):
        self.unplace(message)
        del self.live[message._nth_seq]
        for handle in message.all_receipt_handles:
            if handle is not None:
                self.handles.pop(handle, None)
        if message.deduplication_id is not None:
            same = self.dedup.get(message.deduplication_id, [])
            if message in same:
                same.remove(message)
            if not same:
                self.dedup.pop(message.deduplication_id, None)

    def place(self, message, now):
        """Files a message under where its timestamps put it (moto's `delayed` and `visible` tests)."""
        token = getattr(message, "_nth_token", 0) + 1
        message._nth_token = token
        seq = message._nth_seq
        if now < message.delayed_until:
            message._nth_where = "delayed"
            heapq.heappush(self.delayed, (message.delayed_until, seq, token, message))
        elif not now > message.visible_at:
            message._nth_where = "in_flight"
            heapq.heappush(self.in_flight, (message.visible_at, seq, token, message))
            self.queue._pending_messages.add(message)
        else:
            message._nth_where = "ready"
            heapq.heappush(self.ready, (seq, token, message))
        self.counts[message._nth_where] += 1

    def unplace(self, message):
        where = getattr(message, "_nth_where", None)
        if where is not None:
            self.counts[where] -= 1
        message._nth_where = None
        message._nth_token = getattr(message, "_nth_token", 0) + 1  # its heap entries are now stale
        self.queue._pending_messages.discard(message)

    def refresh(self, now):
        """Moves the in-flight messages whose visibility timeout has passed, and the delayed ones now due, to ready."""
        for heap, due in ((self.in_flight, lambda key: key < now), (self.delayed, lambda key: key <= now)):
            while heap and due(heap[0][0]):
                _, _, token, message = heapq.heappop(heap)
                if token == message._nth_token:
                    self.unplace(message)
                    self.place(message, now)

    def next_due(self):
        """When the earliest in-flight or delayed message becomes receivable (ms), or None."""
        dues = []
        for heap in (self.in_flight, self.delayed):
            while heap and heap[0][2] != heap[0][3]._nth_token:
                heapq.heappop(heap)
            if heap:
                dues.append(heap[0][0])
        return min(dues) if dues else None

    def take(self, count, visibility_timeout, now, to_dlq):
        """Receives up to `count` ready messages, in send order; returns them (the stored objects)."""
        queue = self.queue
        blocked = queue.pending_message_groups if queue.fifo_queue else set()
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        retention_ms = int(queue.message_retention_period) * 1000
        taken, skipped = [], []
        while self.ready and len(taken) < count:
            entry = heapq.heappop(self.ready)
            message = entry[2]
            if entry[1] != message._nth_token:
                continue
            if queue.fifo_queue and message.group_id in blocked:
                skipped.append(entry)  # a message of its group is in flight
                continue
            if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                self.remove(message)
                to_dlq.append(message)
                continue
            if message.sent_timestamp + retention_ms <= now:
                self.remove(message)
                continue
            self.unplace(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            self.handles[message.receipt_handle] = message
            taken.append(message)
        for entry in skipped:
            heapq.heappush(self.ready, entry)
        # Filed only now: with a visibility timeout of 0 a message stays ready, and one receive returns it once.
        for message in taken:
            self.place(message, now)
        return taken


_sequence = itertools.count()


def _store(queue):
    return queue.__dict__["_nth_store"]


def _reset_messages(queue, messages):
    # moto assigns `self._messages = []` in Queue.__init__ (before the lock exists) and in PurgeQueue.
    lock = queue.__dict__.get("_messages_lock") or threading.RLock()
    with lock:
        queue.__dict__["_nth_store"] = store = _MessageStore(queue)
        queue.__dict__.setdefault("_pending_messages", set()).clear()
        now = _clock_ms()
        for message in messages:
            store.add(message, now)


def _refreshed(queue):
    with queue._messages_lock:
        store = _store(queue)
        store.refresh(_clock_ms())
        return store


def add_message(self, message):
    with self._messages_lock:
        store = _store(self)
        if self.fifo_queue and (self.content_based_deduplication or message.deduplication_id):
            for other in store.dedup.get(message.deduplication_id, []):
                # moto's rule: a duplicate of a message still in the queue, sent within the window, is dropped
                if (message.sent_timestamp - other.sent_timestamp) / 1000 < DEDUPLICATION_TIME_IN_SECONDS:
                    return
        store.add(message, _clock_ms())
        self._messages_lock.notify_all()
    # moto's Lambda event source mappings, as moto runs them
    for arn, esm in self.lambda_event_source_mappings.items():
        if not esm.enabled:
            continue
        backend = sqs_backends[self.account_id][self.region]
        messages = backend.receive_message(
            self.name, esm.batch_size, self.receive_message_wait_time_seconds, self.visibility_timeout
        )
        from moto.awslambda.utils import get_backend

        if get_backend(self.account_id, self.region).send_sqs_batch(arn, messages, self.queue_arn):
            for m in messages:
                backend.delete_message(self.name, m.receipt_handle)
        else:
            for m in messages:
                backend.change_message_visibility(self.name, m.receipt_handle, visibility_timeout=0)


def queue_delete_message(self, receipt_handle):
    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts it again
        store = _store(self)
        message = store.handles.get(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        self.deleted_messages.update(message.all_receipt_handles)
        store.remove(message)


def wait_for_messages(self, timeout):
    with self._messages_lock:
        self._messages_lock.wait_for(lambda: _refreshed(self).counts["ready"], timeout=timeout)


def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    queue = self.get_queue(queue_name)
    attribute_names = message_attribute_names or []
    deadline = time.monotonic() + wait_seconds_timeout
    lock = queue._messages_lock
    while True:
        to_dlq, result = [], []
        with lock:
            now = _clock_ms()
            store = _store(queue)
            store.refresh(now)
            for message in store.take(count, visibility_timeout, now, to_dlq):
                # a copy, so that filtering the attributes leaves the stored message whole (as moto does)
                copy = deepcopy(message)
                _filter_message_attributes(copy, attribute_names)
                result.append(copy)
            remaining = deadline - time.monotonic()
            if not result and not to_dlq and remaining > 0:
                due = store.next_due()
                if due is not None:
                    remaining = min(remaining, max(0.0, (due - now) / 1000) + 0.001)
                lock.wait(remaining)  # woken early by a send or a visibility change
                continue
        for message in to_dlq:  # outside this queue's lock: the DLQ takes its own
            queue.dead_letter_queue.add_message(message)
        if result or not wait_seconds_timeout or time.monotonic() >= deadline:
            return result


def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    queue = self.get_queue(queue_name)
    with queue._messages_lock:
        store = _store(queue)
        message = store.handles.get(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid
        given_visibility_timeout = _clock_ms() + int(visibility_timeout) * 1000
        if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )
        message.change_visibility(visibility_timeout)
        store.unplace(message)
        store.place(message, _clock_ms())
        queue._messages_lock.notify_all()


def generate_receipt_handle():
    # moto draws the 185 letters one random.choice at a time (~0.2 ms a message); one draw, same generator and form
    return "".join(moto_random.choices(string.ascii_lowercase, k=185))


# All live messages in send order, as moto's list was; assigning a list (moto's __init__ and PurgeQueue do) resets.
Queue._messages = property(
    lambda self: list(_store(self).live.values()), lambda self, messages: _reset_messages(self, messages)
)
# The receivable messages in send order, as before.
Queue.messages = property(lambda self: [m for m in _refreshed(self).live.values() if m._nth_where == "ready"])
Queue.approximate_number_of_messages = property(lambda self: _refreshed(self).counts["ready"])
Queue.approximate_number_of_messages_not_visible = property(lambda self: _refreshed(self).counts["in_flight"])
Queue.approximate_number_of_messages_delayed = property(lambda self: _refreshed(self).counts["delayed"])
Queue.add_message = add_message
Queue.delete_message = queue_delete_message
Queue.wait_for_messages = wait_for_messages
SQSBackend.receive_message = receive_message
SQSBackend.change_message_visibility = change_message_visibility
moto_sqs_models.generate_receipt_handle = generate_receipt_handle

# Not SQS's, but every request's: moto's dispatcher lists its package directory (~180 stats) twice per request to
# recognise a service name used as a host (~1 ms); the list cannot change while the server runs.
_moto_modules = tuple(moto_backends.list_of_moto_modules())
moto_backends.list_of_moto_modules = lambda: _moto_modules


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


# EC2: moto answers DescribeInstances by copying every reservation it ever had (terminated instances stay listed)
# and testing each instance against the filters, then serialises each instance's tags through
# `describe_tags(filters={"resource-id": [id]})`, which matches that id as a pattern against every tagged
# resource. Both grow with everything the test bed ever launched: with ~5,000 instances one DescribeInstances of
# 100 ids took ~1.9 s (0.7 s with ~2,400), and each benchmark run of 1,000 instances made the next slower.
# Below, an `instance-id` filter of plain ids (no wildcard) first picks, in one pass without copies, the
# reservations holding them, and moto's filtering runs on those only; the tags of plain resource ids are read from
# moto's own map by id. Every other call (InstanceIds included) goes through moto unchanged.
from moto.ec2.models.instances import InstanceBackend  # noqa: E402
from moto.ec2.models.tags import TagBackend  # noqa: E402
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, filter_reservations, get_prefix  # noqa: E402

_moto_all_reservations = InstanceBackend.all_reservations
_moto_describe_tags = TagBackend.describe_tags


def _plain(values):
    return isinstance(values, list) and len(values) > 0 and all(isinstance(v, str) and not any(c in v for c in "*?[") for v in values)


def _all_reservations(self, filters=None):
    ids = (filters or {}).get("instance-id")
    if not _plain(ids):
        return _moto_all_reservations(self, filters)
    wanted = set(ids)
    # What moto does (copies of the reservations, narrowed to the instances that pass every filter), on the
    # reservations that can match.
    holding = [copy(r) for r in self.reservations.copy().values() if any(i.id in wanted for i in r.instances)]
    return filter_reservations(holding, filters)


def _describe_tags(self, filters=None):
    ids = (filters or {}).get("resource-id")
    if filters is None or set(filters) != {"resource-id"} or not _plain(ids):
        return _moto_describe_tags(self, filters)
    return [
        {
            "resource_id": rid,
            "key": key,
            "value": value,
            "resource_type": EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), ""),
        }
        for rid in dict.fromkeys(ids)
        for key, value in self.tags.get(rid, {}).copy().items()
    ]


InstanceBackend.all_reservations = _all_reservations
TagBackend.describe_tags = _describe_tags


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
