"""The detail page's Data section: which Okendo resource to preview, its parameters, the read.

The form names its fields as Okendo does (``limit``, ``orderBy``, ``status``)
and checks every value with the Okendo client's own parsers, so nothing
Okendo would refuse — or a path or parameter injection — is ever sent.
Reads go through :mod:`connections.reads` with ``record=False``: previews are
not stored, and Okendo's text comes back scrubbed of the credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.dateparse import parse_datetime

from connections import reads
from connections.models import Connection
from connections.okendo import (
    MERCHANT_ORDERS,
    RESOURCES,
    REVIEW_STATUSES,
    STOREFRONT_ORDERS,
    ApiType,
    InvalidRequest,
    Resource,
    ReviewQuery,
    ReviewScope,
    parse_cursor,
    parse_email,
    parse_group_id,
    parse_page_size,
    parse_product_id,
)

RESOURCE_LABELS: dict[Resource, str] = {
    Resource.REVIEWS: "Reviews of the store",
    Resource.PRODUCT_REVIEWS: "Reviews of a product",
    Resource.GROUP_REVIEWS: "Reviews of a group",
    Resource.REVIEW_AGGREGATE: "Review aggregate of the store",
    Resource.PRODUCT_REVIEW_AGGREGATE: "Review aggregate of a product",
    Resource.GROUP_REVIEW_AGGREGATE: "Review aggregate of a group",
    Resource.CUSTOMER: "Customer by email",
    Resource.LOYALTY_CUSTOMER: "Loyalty customer by email",
}

# The parameters each resource takes, in the order the form shows them.
RESOURCE_FIELDS: dict[Resource, tuple[str, ...]] = {
    Resource.REVIEWS: ("limit", "orderBy", "status"),
    Resource.PRODUCT_REVIEWS: ("product_id", "limit", "orderBy"),
    Resource.GROUP_REVIEWS: ("group_id", "limit", "orderBy"),
    Resource.REVIEW_AGGREGATE: (),
    Resource.PRODUCT_REVIEW_AGGREGATE: ("product_id",),
    Resource.GROUP_REVIEW_AGGREGATE: ("group_id",),
    Resource.CUSTOMER: ("email",),
    Resource.LOYALTY_CUSTOMER: ("email",),
}
REVIEW_RESOURCES = (Resource.REVIEWS, Resource.PRODUCT_REVIEWS, Resource.GROUP_REVIEWS)
PARAMETER_NAMES = ("resource", "limit", "orderBy", "status", "product_id", "group_id", "email")


def _checked(parse: Any, value: str) -> Any:
    try:
        return parse(value)
    except InvalidRequest as exc:
        raise forms.ValidationError(exc.reason, code="invalid") from None


class DataForm(forms.Form):
    """Choose a resource the connection's API type allows and its parameters.

    Only the selected resource's fields are kept; the others are removed, so
    they can neither be shown nor sent. Bound to ``request.GET``.
    """

    resource = forms.ChoiceField(label="Resource")
    limit = forms.CharField(
        label="Page size", required=False, max_length=3, widget=forms.TextInput({"size": 4})
    )
    orderBy = forms.ChoiceField(label="Order", required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Every status"), *[(s, s.title()) for s in REVIEW_STATUSES]],
    )
    product_id = forms.CharField(label="Product ID", max_length=20, help_text="Numeric Shopify ID")
    group_id = forms.CharField(label="Group ID", max_length=36, help_text="Okendo group UUID")
    email = forms.CharField(label="Email", max_length=254, widget=forms.EmailInput)

    def __init__(self, *args: Any, api_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api_type = ApiType(api_type)
        allowed = RESOURCES[self.api_type]
        resource_field = self.fields["resource"]
        order_field = self.fields["orderBy"]
        assert isinstance(resource_field, forms.ChoiceField)
        assert isinstance(order_field, forms.ChoiceField)
        resource_field.choices = [(r.value, RESOURCE_LABELS[r]) for r in allowed]
        orders = MERCHANT_ORDERS if self.api_type is ApiType.MERCHANT else STOREFRONT_ORDERS
        order_field.choices = [("", "Newest first (Okendo's default)")] + [
            (order, order) for order in orders
        ]
        top = 100 if self.api_type is ApiType.MERCHANT else 25
        self.fields["limit"].help_text = f"1 to {top}; 25 if empty"
        source = self.data if self.is_bound else self.initial
        chosen = source.get("resource", "")
        self.selected = Resource(chosen) if chosen in allowed else allowed[0]
        keep = set(RESOURCE_FIELDS[self.selected]) | {"resource"}
        if self.api_type is ApiType.STOREFRONT:
            keep.discard("status")  # Storefront lists published reviews only
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]

    @property
    def is_reviews(self) -> bool:
        return self.selected in REVIEW_RESOURCES

    def clean_limit(self) -> int | None:
        value = self.cleaned_data["limit"].strip()
        if not value:
            return None
        return _checked(lambda v: parse_page_size(v, api_type=self.api_type), value)

    def clean_product_id(self) -> str:
        return _checked(parse_product_id, self.cleaned_data["product_id"].strip())

    def clean_group_id(self) -> str:
        return _checked(parse_group_id, self.cleaned_data["group_id"].strip())

    def clean_email(self) -> str:
        return _checked(parse_email, self.cleaned_data["email"].strip())

    def query(self) -> ReviewQuery:
        """Return the review listing's parameters (valid form only)."""
        data = self.cleaned_data
        return ReviewQuery(
            limit=data.get("limit"),
            order_by=data.get("orderBy") or None,
            status=data.get("status") or None,
        )

    def scope(self) -> ReviewScope:
        """Return whose reviews: the store, a product or a group (valid form only)."""
        data = self.cleaned_data
        return ReviewScope(product_id=data.get("product_id"), group_id=data.get("group_id"))

    def parameters(self) -> dict[str, str]:
        """Return the submitted values of this resource's fields, for links to the next page."""
        return {
            name: str(self.data.get(name, ""))
            for name in self.fields
            if str(self.data.get(name, ""))
        }


@dataclass(frozen=True)
class ReviewRow:
    """One review as the preview table shows it, with its full JSON for on-demand display."""

    date: str
    date_iso: str
    rating: str
    title: str
    reviewer: str
    product: str
    status: str
    json: str


@dataclass(frozen=True)
class Preview:
    """What a read showed: review rows and the next cursor, or one record's JSON, or a refusal."""

    resource: Resource
    rows: list[ReviewRow] = field(default_factory=list)
    next_cursor: str | None = None
    page: int = 1
    record_json: str = ""
    outcome: str = "ok"
    message: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _row(review: dict[str, Any]) -> ReviewRow:
    created = _text(review.get("dateCreated"))
    moment = parse_datetime(created) if created else None
    reviewer = review.get("reviewer")
    product = review.get("productName") or review.get("productId")
    rating = review.get("rating")
    return ReviewRow(
        date=moment.strftime("%-d %b %Y") if moment else created,
        date_iso=moment.isoformat() if moment else "",
        rating=f"{rating} / 5" if isinstance(rating, int | float) else "—",
        title=_text(review.get("title")),
        reviewer=_text(reviewer.get("displayName")) if isinstance(reviewer, dict) else "",
        product=_text(product),
        status=_text(review.get("status")),
        json=json.dumps(review, indent=2, ensure_ascii=False),
    )


def read(
    *, form: DataForm, connection: Connection, actor: Any, cursor: str | None, page: int
) -> Preview:
    """Read what a valid ``form`` asks for through ``connection``; never stored.

    Raise ``PermissionDenied`` without ``read_data``. A refusal (``ReadFailed``,
    or a cursor this app did not hand out) comes back as a ``Preview`` with its
    outcome word and sentence.
    """
    resource = form.selected
    try:
        if cursor is not None:
            parse_cursor(cursor)
        if form.is_reviews:
            found = reads.reviews_page(
                connection=connection,
                actor=actor,
                scope=form.scope(),
                query=form.query(),
                cursor=cursor,
            )
            return Preview(
                resource=resource,
                rows=[_row(review) for review in found.reviews if isinstance(review, dict)],
                next_cursor=found.next_cursor,
                page=page,
            )
        record: Any
        if resource is Resource.CUSTOMER:
            record = reads.customer(
                connection=connection, actor=actor, email=form.cleaned_data["email"]
            )
        elif resource is Resource.LOYALTY_CUSTOMER:
            record = reads.loyalty_customer(
                connection=connection, actor=actor, email=form.cleaned_data["email"]
            )
        else:
            record = reads.review_aggregate(connection=connection, actor=actor, scope=form.scope())
    except InvalidRequest as exc:
        return Preview(resource=resource, outcome=str(exc.outcome), message=exc.reason)
    except reads.ReadFailed as exc:
        return Preview(resource=resource, outcome=str(exc.outcome), message=exc.message)
    return Preview(resource=resource, record_json=json.dumps(record, indent=2, ensure_ascii=False))
