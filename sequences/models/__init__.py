from sequences.models.account import Account, LifecycleStage
from sequences.models.contact import AnonymousId, Contact, SubscriptionStatus
from sequences.models.copy import CopyVariant
from sequences.models.event import Event, EventType, QueuedBatch, RejectedEvent
from sequences.models.experiment import Experiment, ExperimentArm
from sequences.models.intent import ScoreHistory, ScoringModel, SessionSummary, TriggerOccurrence, TriggerType
from sequences.models.sequence import (
    EmailEvent,
    Enrolment,
    FunnelStage,
    Message,
    OutboxEmail,
    Segment,
    Sequence,
    Step,
)
from sequences.models.trigger_settings import TriggerSettings
from sequences.models.write_key import WriteKey

__all__ = [
    "Account",
    "AnonymousId",
    "Contact",
    "CopyVariant",
    "EmailEvent",
    "Enrolment",
    "Event",
    "EventType",
    "Experiment",
    "ExperimentArm",
    "FunnelStage",
    "LifecycleStage",
    "Message",
    "OutboxEmail",
    "QueuedBatch",
    "RejectedEvent",
    "ScoreHistory",
    "ScoringModel",
    "Segment",
    "Sequence",
    "SessionSummary",
    "Step",
    "SubscriptionStatus",
    "TriggerOccurrence",
    "TriggerSettings",
    "TriggerType",
    "WriteKey",
]
