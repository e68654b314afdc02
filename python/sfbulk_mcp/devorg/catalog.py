"""The devorg's object catalog: sObjects, their fields, and describe output."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import invalid_type

# Storage class of each field type in SQLite, and its SOAP type in describe.
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "combobox": "xsd:string",
    "base64": "xsd:base64Binary",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "address": "urn:address",
}

TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject, with what describe reports about it."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    child_relationship: str | None = None
    cascade_delete: bool = False
    picklist: tuple[str, ...] = ()
    default_picklist: str | None = None
    restricted_picklist: bool = False
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    precision: int = 0
    scale: int = 0
    digits: int = 0
    custom: bool = False
    name_field: bool = False
    id_lookup: bool = False
    compound_field_name: str | None = None
    extra_type_info: str | None = None
    html_formatted: bool = False
    calculated: bool = False
    auto_number: bool = False
    # Address compounds are described and queryable over REST but not stored.
    compound_parts: tuple[str, ...] = ()
    # Fields whose value the store computes (Contact.Name from First/LastName).
    computed_from: tuple[str, ...] = ()

    @property
    def stored(self) -> bool:
        """False for compound fields, which live in their parts."""
        return self.type != "address"

    @property
    def required(self) -> bool:
        """Salesforce's rule: not nillable, createable, and not defaulted on create."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def is_text(self) -> bool:
        """True for the string-like types (compared case-insensitively)."""
        return self.type in TEXT_TYPES

    @property
    def filterable(self) -> bool:
        """Whether the field may appear in WHERE (not long text, not base64)."""
        return not (self.type == "textarea" and self.length > 255) and self.type != "base64"

    @property
    def sortable(self) -> bool:
        """Whether the field may appear in ORDER BY."""
        return self.filterable and self.type not in ("multipicklist", "address")

    @property
    def groupable(self) -> bool:
        """Whether the field may appear in GROUP BY."""
        if not self.sortable or self.type in ("double", "currency", "percent", "datetime"):
            return False
        return self.type != "textarea" or self.length <= 255

    @property
    def aggregatable(self) -> bool:
        """Whether the field may be aggregated (MIN, MAX, COUNT …)."""
        return self.filterable and self.type not in ("address", "multipicklist", "boolean")

    def byte_length(self) -> int:
        """Describe's byteLength: three bytes per character for text."""
        if self.type in ID_TYPES:
            return 18
        if self.type in TEXT_TYPES:
            return self.length * 3
        if self.type == "base64":
            return self.length
        return 0

    def describe(self) -> dict[str, Any]:
        """This field's entry in an sObject describe (every key a real describe has)."""
        picklist_values = [
            {
                "active": True,
                "defaultValue": v == self.default_picklist,
                "label": v,
                "validFor": None,
                "value": v,
            }
            for v in self.picklist
        ]
        return {
            "aggregatable": self.aggregatable,
            "aiPredictionField": False,
            "autoNumber": self.auto_number,
            "byteLength": self.byte_length(),
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": self.compound_field_name,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": self.extra_type_info,
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.groupable,
            "highScaleNumber": False,
            "htmlFormatted": self.html_formatted,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.nillable and (self.createable or self.type == "address"),
            "picklistValues": picklist_values,
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": self.type == "address",
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted_picklist,
            "scale": self.scale,
            "searchPrefilterable": self.type == "reference" and len(self.reference_to) == 1
            and self.nillable and self.updateable,
            "soapType": _SOAP_TYPES[self.type],
            "sortable": self.sortable,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass(frozen=True)
class ChildRelationship:
    """A parent-to-child relationship (``Account.Contacts``)."""

    child_sobject: str
    field: str
    relationship_name: str | None
    cascade_delete: bool

    def describe(self) -> dict[str, Any]:
        """This entry as describe lists it."""
        return {
            "cascadeDelete": self.cascade_delete,
            "childSObject": self.child_sobject,
            "deprecatedAndHidden": False,
            "field": self.field,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": self.relationship_name,
            "restrictedDelete": False,
        }


@dataclass
class SObjectDef:
    """An sObject type: name, key prefix, fields in describe order."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: list[FieldDef]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    searchable: bool = True
    feed_enabled: bool = True
    child_relationships: list[ChildRelationship] = field(default_factory=list)
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _by_relationship: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _children: dict[str, ChildRelationship] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_lower = {f.name.lower(): f for f in self.fields}
        self._by_relationship = {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name
        }
        self.required_fields: tuple[str, ...] = tuple(f.name for f in self.fields if f.required)

    @property
    def table(self) -> str:
        """The SQLite table holding this object's records."""
        return self.name

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (case-insensitive), or None."""
        return self._by_lower.get(name.lower())

    def reference_by_relationship(self, relationship: str) -> FieldDef | None:
        """The reference field behind a relationship name (``Owner`` → ``OwnerId``)."""
        return self._by_relationship.get(relationship.lower())

    def child(self, relationship: str) -> ChildRelationship | None:
        """The child relationship called ``relationship`` (case-insensitive), or None."""
        return self._children.get(relationship.lower())

    def stored_fields(self) -> list[FieldDef]:
        """Fields with a column of their own (compound fields excluded)."""
        return [f for f in self.fields if f.stored]

    @property
    def name_field(self) -> FieldDef:
        """The field describe marks as the name field."""
        for f in self.fields:
            if f.name_field:
                return f
        return self.fields[0]

    def external_id_fields(self) -> list[FieldDef]:
        """Fields usable as upsert keys."""
        return [f for f in self.fields if f.external_id]

    def _urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def _flags(self) -> dict[str, Any]:
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": self.feed_enabled,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in ("Account", "Contact", "Lead", "Case"),
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": self.searchable,
            "triggerable": True,
            "undeletable": self.deletable,
            "updateable": self.updateable,
        }

    def describe_global_entry(self, version: str) -> dict[str, Any]:
        """This object's entry in ``describeGlobal``'s ``sobjects`` list."""
        urls = self._urls(version)
        entry = self._flags()
        entry.update(associateEntityType=None, associateParentEntity=None)
        entry["urls"] = {
            k: urls[k]
            for k in (
                "compactLayouts", "rowTemplate", "approvalLayouts", "listviews", "describe",
                "quickActions", "layouts", "sobject",
            )
        }
        return dict(sorted(entry.items()))

    def describe(self, version: str) -> dict[str, Any]:
        """The full ``sobjects/X/describe`` body."""
        body = self._flags()
        body.update(
            actionOverrides=[],
            childRelationships=[c.describe() for c in self.child_relationships],
            compactLayoutable=True,
            defaultImplementation=None,
            extendedBy=None,
            extendsInterfaces=None,
            fields=[f.describe() for f in self.fields],
            implementedBy=None,
            implementsInterfaces=None,
            listviewable=None,
            lookupLayoutable=None,
            namedLayoutInfos=[],
            networkScopeFieldName=None,
            recordTypeInfos=[
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {
                        "layout": f"/services/data/v{version}/sobjects/{self.name}"
                        "/describe/layouts/012000000000000AAA"
                    },
                }
            ],
            searchLayoutable=True,
            supportedScopes=[
                {"label": f"All {self.label_plural.lower()}", "name": "everything"},
                {"label": f"My {self.label_plural.lower()}", "name": "mine"},
            ],
            urls=self._urls(version),
        )
        if self.custom:
            # Custom objects carry the keys newer describes have (describe_Custom__c.json).
            body.update(associateEntityType=None, associateParentEntity=None,
                        sobjectDescribeOption="FULL")
        return dict(sorted(body.items()))


class Catalog:
    """All sObject types of the org, looked up case-insensitively."""

    def __init__(self, sobjects: Iterable[SObjectDef]) -> None:
        self._objects: dict[str, SObjectDef] = {}
        self._by_prefix: dict[str, SObjectDef] = {}
        for obj in sobjects:
            self._objects[obj.name.lower()] = obj
            self._by_prefix[obj.key_prefix] = obj
        self._link_children()

    def _link_children(self) -> None:
        for obj in self._objects.values():
            obj.child_relationships = []
            obj._children = {}
        for child in self._objects.values():
            for f in child.fields:
                if f.type != "reference":
                    continue
                for target in f.reference_to:
                    parent = self._objects.get(target.lower())
                    if parent is None:
                        continue
                    rel = ChildRelationship(
                        child.name, f.name, f.child_relationship, f.cascade_delete
                    )
                    parent.child_relationships.append(rel)
                    if f.child_relationship:
                        parent._children[f.child_relationship.lower()] = rel
        for obj in self._objects.values():
            obj.child_relationships.sort(key=lambda c: (c.child_sobject, c.field))

    def __iter__(self) -> Iterator[SObjectDef]:
        return iter(self._objects.values())

    def get(self, name: str) -> SObjectDef:
        """The sObject called ``name``; INVALID_TYPE if there is none."""
        obj = self._objects.get(name.lower())
        if obj is None:
            raise invalid_type(name)
        return obj

    def find(self, name: str) -> SObjectDef | None:
        """The sObject called ``name`` (case-insensitive), or None."""
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> SObjectDef | None:
        """The sObject whose Ids start with ``prefix``, or None."""
        return self._by_prefix.get(prefix)


# --- field constructors -------------------------------------------------------------------


def _id(label: str) -> FieldDef:
    return FieldDef(
        "Id", "id", label, length=18, nillable=False, createable=False, updateable=False,
        defaulted_on_create=True, id_lookup=True,
    )


def _s(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", label, length=length, **kw)


def _ta(name: str, label: str, length: int = 32000, **kw: Any) -> FieldDef:
    info = "richtextarea" if kw.get("html_formatted") else "plaintextarea"
    return FieldDef(name, "textarea", label, length=length, extra_type_info=info, **kw)


def _pick(name: str, label: str, values: Iterable[str], **kw: Any) -> FieldDef:
    # Standard picklists are 40 characters long, custom ones 255.
    length = 255 if kw.get("custom") else 40
    return FieldDef(name, "picklist", label, length=length, picklist=tuple(values), **kw)


def _multi(name: str, label: str, values: Iterable[str], **kw: Any) -> FieldDef:
    return FieldDef(name, "multipicklist", label, length=4099, picklist=tuple(values), **kw)


def _bool(name: str, label: str, default: bool = False, **kw: Any) -> FieldDef:
    kw.setdefault("nillable", False)
    return FieldDef(
        name, "boolean", label, defaulted_on_create=True, default_value=default, **kw
    )


def _int(name: str, label: str, digits: int = 9, **kw: Any) -> FieldDef:
    return FieldDef(name, "int", label, digits=digits, **kw)


def _num(name: str, kind: str, label: str, precision: int = 18, scale: int = 2,
         **kw: Any) -> FieldDef:
    return FieldDef(name, kind, label, precision=precision, scale=scale, **kw)


def _date(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "date", label, **kw)


def _dt(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "datetime", label, **kw)


def _ref(name: str, label: str, to: Iterable[str], rel: str, child: str | None = None,
         **kw: Any) -> FieldDef:
    return FieldDef(
        name, "reference", label, length=18, reference_to=tuple(to), relationship_name=rel,
        child_relationship=child, **kw,
    )


def _email(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "email", label, length=80, **kw)


def _phone(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "phone", label, length=40, **kw)


def _url(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "url", label, length=255, **kw)


def _address(prefix: str, label: str, street_label: str = "Street") -> list[FieldDef]:
    compound = f"{prefix}Address"

    def lab(what: str) -> str:
        return f"{label} {what}".strip()

    parts = [
        _ta(f"{prefix}Street", lab(street_label), 255, compound_field_name=compound),
        _s(f"{prefix}City", lab("City"), 40, compound_field_name=compound),
        _s(f"{prefix}State", lab("State/Province"), 80, compound_field_name=compound),
        _s(f"{prefix}PostalCode", lab("Zip/Postal Code"), 20,
           compound_field_name=compound),
        _s(f"{prefix}Country", lab("Country"), 80, compound_field_name=compound),
        _num(f"{prefix}Latitude", "double", lab("Latitude"), 18, 15,
             compound_field_name=compound),
        _num(f"{prefix}Longitude", "double", lab("Longitude"), 18, 15,
             compound_field_name=compound),
        _pick(f"{prefix}GeocodeAccuracy", lab("Geocode Accuracy"),
              ["Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip",
               "Neighborhood", "City", "County", "State", "Unknown"],
              compound_field_name=compound, restricted_picklist=True),
    ]
    compound_field = FieldDef(
        compound, "address", lab("Address"), createable=False, updateable=False,
        compound_parts=tuple(p.name for p in parts),
    )
    return parts + [compound_field]


def _system(owner: bool = True, owner_child: str | None = None) -> list[FieldDef]:
    fields = []
    if owner:
        fields.append(
            _ref("OwnerId", "Owner ID", ["User"], "Owner", owner_child, nillable=False,
                 defaulted_on_create=True)
        )
    fields += [
        _dt("CreatedDate", "Created Date", nillable=False, createable=False, updateable=False,
            defaulted_on_create=True),
        _ref("CreatedById", "Created By ID", ["User"], "CreatedBy", None, nillable=False,
             createable=False, updateable=False, defaulted_on_create=True),
        _dt("LastModifiedDate", "Last Modified Date", nillable=False, createable=False,
            updateable=False, defaulted_on_create=True),
        _ref("LastModifiedById", "Last Modified By ID", ["User"], "LastModifiedBy", None,
             nillable=False, createable=False, updateable=False, defaulted_on_create=True),
        _dt("SystemModstamp", "System Modstamp", nillable=False, createable=False,
            updateable=False, defaulted_on_create=True),
    ]
    return fields


def _is_deleted() -> FieldDef:
    return _bool("IsDeleted", "Deleted", createable=False, updateable=False)


def _readonly(f: FieldDef) -> FieldDef:
    return replace(f, createable=False, updateable=False)


_INDUSTRIES = [
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government",
    "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media",
    "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities", "Other",
]
_LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
_RATINGS = ["Hot", "Warm", "Cold"]
_SALUTATIONS = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]
STAGES = [
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
    "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
    "Negotiation/Review", "Closed Won", "Closed Lost",
]


def _name_parts(first_required: bool = False) -> list[FieldDef]:
    return [
        _s("LastName", "Last Name", 80, nillable=False),
        _s("FirstName", "First Name", 40, nillable=not first_required),
        _pick("Salutation", "Salutation", _SALUTATIONS),
        _readonly(_s("Name", "Full Name", 121, name_field=True,
                     computed_from=("FirstName", "LastName"))),
    ]


def _account() -> SObjectDef:
    fields = [
        _id("Account ID"),
        _is_deleted(),
        _readonly(_ref("MasterRecordId", "Master Record ID", ["Account"], "MasterRecord")),
        _s("Name", "Account Name", 255, nillable=False, name_field=True),
        _pick("Type", "Account Type",
              ["Prospect", "Customer - Direct", "Customer - Channel",
               "Channel Partner / Reseller", "Installation Partner", "Technology Partner",
               "Other"]),
        _ref("ParentId", "Parent Account ID", ["Account"], "Parent", "ChildAccounts"),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
        _phone("Phone", "Account Phone"),
        _phone("Fax", "Account Fax"),
        _s("AccountNumber", "Account Number", 40),
        _url("Website", "Website"),
        _s("Sic", "SIC Code", 20),
        _pick("Industry", "Industry", _INDUSTRIES),
        _num("AnnualRevenue", "currency", "Annual Revenue", 18, 0),
        _int("NumberOfEmployees", "Employees", 8),
        _pick("Ownership", "Ownership", ["Public", "Private", "Subsidiary", "Other"]),
        _s("TickerSymbol", "Ticker Symbol", 20),
        _ta("Description", "Account Description", 32000),
        _pick("Rating", "Account Rating", _RATINGS),
        _s("Site", "Account Site", 80),
        _pick("AccountSource", "Account Source", _LEAD_SOURCES),
        *_system(owner_child=None),
        _readonly(_date("LastActivityDate", "Last Activity")),
        _s("External_Id__c", "External Id", 255, custom=True, external_id=True,
           id_lookup=True),
        _multi("Regions__c", "Regions", ["AMER", "EMEA", "APAC", "LATAM"], custom=True),
        _num("Health_Score__c", "percent", "Health Score", 5, 2, custom=True),
        _bool("Active__c", "Active", True, custom=True),
    ]
    return SObjectDef("Account", "Account", "Accounts", "001", fields)


def _contact() -> SObjectDef:
    fields = [
        _id("Contact ID"),
        _is_deleted(),
        _readonly(_ref("MasterRecordId", "Master Record ID", ["Contact"], "MasterRecord")),
        _ref("AccountId", "Account ID", ["Account"], "Account", "Contacts",
             cascade_delete=True),
        *_name_parts(),
        *_address("Mailing", "Mailing"),
        _phone("Phone", "Business Phone"),
        _phone("MobilePhone", "Mobile Phone"),
        _email("Email", "Email", id_lookup=True),
        _s("Title", "Title", 128),
        _s("Department", "Department", 80),
        _date("Birthdate", "Birthdate"),
        _pick("LeadSource", "Lead Source", _LEAD_SOURCES),
        _ta("Description", "Contact Description", 32000),
        _bool("HasOptedOutOfEmail", "Email Opt Out"),
        _bool("DoNotCall", "Do Not Call"),
        _ref("ReportsToId", "Reports To ID", ["Contact"], "ReportsTo"),
        *_system(),
        _readonly(_date("LastActivityDate", "Last Activity")),
        _s("External_Id__c", "External Id", 255, custom=True, external_id=True,
           unique=True, id_lookup=True),
    ]
    return SObjectDef("Contact", "Contact", "Contacts", "003", fields)


def _lead() -> SObjectDef:
    fields = [
        _id("Lead ID"),
        _is_deleted(),
        *_name_parts(),
        _s("Company", "Company", 255, nillable=False),
        _s("Title", "Title", 128),
        *_address("", "", "Street"),
        _phone("Phone", "Phone"),
        _email("Email", "Email", id_lookup=True),
        _url("Website", "Website"),
        _pick("Status", "Status",
              ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
               "Closed - Not Converted"], nillable=False, defaulted_on_create=True,
              default_picklist="Open - Not Contacted", default_value=None),
        _pick("Industry", "Industry", _INDUSTRIES),
        _pick("Rating", "Rating", _RATINGS),
        _pick("LeadSource", "Lead Source", _LEAD_SOURCES),
        _num("AnnualRevenue", "currency", "Annual Revenue", 18, 0),
        _int("NumberOfEmployees", "Employees", 8),
        _ta("Description", "Description", 32000),
        _bool("IsConverted", "Converted", createable=True, updateable=False),
        _readonly(_date("ConvertedDate", "Converted Date")),
        _readonly(_ref("ConvertedAccountId", "Converted Account ID", ["Account"],
                       "ConvertedAccount")),
        _readonly(_ref("ConvertedContactId", "Converted Contact ID", ["Contact"],
                       "ConvertedContact")),
        _readonly(_ref("ConvertedOpportunityId", "Converted Opportunity ID",
                       ["Opportunity"], "ConvertedOpportunity")),
        _bool("IsUnreadByOwner", "Unread By Owner"),
        *_system(),
    ]
    return SObjectDef("Lead", "Lead", "Leads", "00Q", fields)


def _opportunity() -> SObjectDef:
    fields = [
        _id("Opportunity ID"),
        _is_deleted(),
        _ref("AccountId", "Account ID", ["Account"], "Account", "Opportunities",
             cascade_delete=True),
        _s("Name", "Name", 120, nillable=False, name_field=True),
        _ta("Description", "Description", 32000),
        _pick("StageName", "Stage", STAGES, nillable=False),
        _num("Amount", "currency", "Amount", 18, 2),
        _num("Probability", "percent", "Probability (%)", 3, 0),
        _num("ExpectedRevenue", "currency", "Expected Amount", 18, 2, createable=False,
             updateable=False, calculated=True),
        _num("TotalOpportunityQuantity", "double", "Quantity", 18, 2),
        _date("CloseDate", "Close Date", nillable=False),
        _pick("Type", "Opportunity Type",
              ["Existing Customer - Upgrade", "Existing Customer - Replacement",
               "Existing Customer - Downgrade", "New Customer"]),
        _s("NextStep", "Next Step", 255),
        _pick("LeadSource", "Lead Source", _LEAD_SOURCES),
        _readonly(_bool("IsClosed", "Closed")),
        _readonly(_bool("IsWon", "Won")),
        _pick("ForecastCategoryName", "Forecast Category",
              ["Omitted", "Pipeline", "Best Case", "Commit", "Closed"]),
        _ref("CampaignId", "Campaign ID", ["Campaign"], "Campaign"),
        *_system(),
        _readonly(_date("LastActivityDate", "Last Activity")),
        _s("External_Id__c", "External Id", 255, custom=True, external_id=True,
           unique=True, id_lookup=True),
    ]
    return SObjectDef("Opportunity", "Opportunity", "Opportunities", "006", fields)


def _case() -> SObjectDef:
    fields = [
        _id("Case ID"),
        _is_deleted(),
        FieldDef("CaseNumber", "string", "Case Number", length=30, nillable=False,
                 createable=False, updateable=False, defaulted_on_create=True,
                 name_field=True, id_lookup=True, auto_number=True),
        _ref("ContactId", "Contact ID", ["Contact"], "Contact", "Cases"),
        _ref("AccountId", "Account ID", ["Account"], "Account", "Cases"),
        _ref("ParentId", "Parent Case ID", ["Case"], "Parent", "Cases"),
        _s("SuppliedName", "Name", 80),
        _email("SuppliedEmail", "Email"),
        _phone("SuppliedPhone", "Phone"),
        _pick("Type", "Case Type", ["Mechanical", "Electrical", "Electronic", "Structural",
                                    "Other"]),
        _pick("Status", "Status", ["New", "Working", "Escalated", "Closed"],
              default_picklist="New", defaulted_on_create=True),
        _pick("Reason", "Case Reason",
              ["Installation", "Equipment Complexity", "Performance", "Breakdown",
               "Equipment Design", "Feedback", "Other"]),
        _pick("Origin", "Case Origin", ["Phone", "Email", "Web"]),
        _s("Subject", "Subject", 255),
        _pick("Priority", "Priority", ["High", "Medium", "Low"], default_picklist="Medium",
              defaulted_on_create=True),
        _ta("Description", "Description", 32000),
        _readonly(_bool("IsClosed", "Closed")),
        _readonly(_dt("ClosedDate", "Closed Date")),
        _bool("IsEscalated", "Escalated"),
        *_system(),
    ]
    return SObjectDef("Case", "Case", "Cases", "500", fields)


def _user() -> SObjectDef:
    fields = [
        _id("User ID"),
        _s("Username", "Username", 80, nillable=False, unique=True, id_lookup=True),
        *[f for f in _name_parts() if f.name != "Salutation"],
        _s("Alias", "Alias", 8, nillable=False),
        _email("Email", "Email", nillable=False),
        _s("CommunityNickname", "Nickname", 40, unique=True),
        _s("Title", "Title", 80),
        _s("Department", "Department", 80),
        _s("CompanyName", "Company Name", 80),
        _phone("Phone", "Phone"),
        _bool("IsActive", "Active", True),
        _pick("TimeZoneSidKey", "Time Zone",
              ["America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris",
               "Asia/Tokyo", "GMT"], nillable=False, restricted_picklist=True),
        _pick("LocaleSidKey", "Locale", ["en_US", "en_GB", "fr_FR", "de_DE", "ja_JP"],
              nillable=False, restricted_picklist=True),
        _pick("EmailEncodingKey", "Email Encoding", ["UTF-8", "ISO-8859-1"], nillable=False,
              restricted_picklist=True),
        _pick("LanguageLocaleKey", "Language", ["en_US", "fr", "de", "ja"], nillable=False,
              restricted_picklist=True),
        _s("ProfileName__c", "Profile", 80, custom=True),
        # Set from ProfileName__c when not given, so every user has a profile.
        _ref("ProfileId", "Profile ID", ["Profile"], "Profile", "Users", nillable=False,
             defaulted_on_create=True),
        _pick("UserType", "User Type", ["Standard", "AutomatedProcess", "CsnOnly"],
              createable=False, updateable=False, defaulted_on_create=True,
              default_picklist="Standard"),
        _ref("ManagerId", "Manager ID", ["User"], "Manager", "ManagedUsers"),
        _readonly(_dt("LastLoginDate", "Last Login")),
        *_system(owner=False),
    ]
    return SObjectDef("User", "User", "Users", "005", fields, deletable=False,
                      feed_enabled=False)


def _product() -> SObjectDef:
    fields = [
        _id("Product ID"),
        _is_deleted(),
        _s("Name", "Product Name", 255, nillable=False, name_field=True),
        _s("ProductCode", "Product Code", 255),
        _ta("Description", "Product Description", 4000),
        _bool("IsActive", "Active"),
        _pick("Family", "Product Family", ["None", "Hardware", "Software", "Services"]),
        _s("StockKeepingUnit", "Product SKU", 180, external_id=True, unique=True,
           id_lookup=True),
        _pick("QuantityUnitOfMeasure", "Quantity Unit Of Measure", ["Each", "Hour", "Kg"]),
        *_system(owner=False),
    ]
    return SObjectDef("Product2", "Product", "Products", "01t", fields)


def _task() -> SObjectDef:
    fields = [
        _id("Activity ID"),
        _is_deleted(),
        _ref("WhoId", "Name ID", ["Contact", "Lead"], "Who", "Tasks"),
        _ref("WhatId", "Related To ID", ["Account", "Opportunity", "Case", "Product2",
                                          "Invoice__c"], "What", "Tasks", cascade_delete=True),
        _s("Subject", "Subject", 255),
        _date("ActivityDate", "Due Date Only"),
        _pick("Status", "Status", ["Not Started", "In Progress", "Completed",
                                   "Waiting on someone else", "Deferred"],
              nillable=False, defaulted_on_create=True, default_picklist="Not Started",
              restricted_picklist=True),
        _pick("Priority", "Priority", ["High", "Normal", "Low"], nillable=False,
              defaulted_on_create=True, default_picklist="Normal", restricted_picklist=True),
        _readonly(_bool("IsClosed", "Closed")),
        _ta("Description", "Description", 32000),
        _pick("TaskSubtype", "Task Subtype", ["Task", "Email", "Call"]),
        _int("CallDurationInSeconds", "Call Duration"),
        *_system(),
    ]
    return SObjectDef("Task", "Task", "Tasks", "00T", fields)


def _content_version() -> SObjectDef:
    fields = [
        _id("ContentVersion ID"),
        _is_deleted(),
        _readonly(_ref("ContentDocumentId", "ContentDocument ID", ["ContentDocument"],
                       "ContentDocument")),
        # Title defaults to the file name; the path is what an upload must give.
        _s("Title", "Title", 255, nillable=False, name_field=True, defaulted_on_create=True),
        _ta("Description", "Description", 1000),
        _s("PathOnClient", "Path On Client", 500, nillable=False, updateable=False),
        FieldDef("VersionData", "base64", "Version Data", length=2147483647,
                 nillable=True),
        _readonly(_int("ContentSize", "Size")),
        _readonly(_s("FileType", "File Type", 20)),
        _readonly(_s("FileExtension", "File Extension", 40)),
        _readonly(_s("VersionNumber", "Version Number", 20)),
        _bool("IsMajorVersion", "Major Version", True, updateable=False),
        _readonly(_bool("IsLatest", "Is Latest")),
        _ref("FirstPublishLocationId", "First Publish Location ID",
             ["Account", "Contact", "Opportunity", "Case", "User"], "FirstPublishLocation",
             updateable=False),
        *_system(),
    ]
    return SObjectDef("ContentVersion", "Content Version", "Content Versions", "068",
                      fields, deletable=False, searchable=True, feed_enabled=False)


def _invoice() -> SObjectDef:
    fields = [
        _id("Record ID"),
        _is_deleted(),
        # A custom object's Name defaults to the record's Id when left empty.
        _s("Name", "Invoice Name", 80, name_field=True, defaulted_on_create=True,
           id_lookup=True),
        _ref("Account__c", "Account", ["Account"], "Account__r", "Invoices__r", custom=True),
        _ref("Contact__c", "Billing Contact", ["Contact"], "Contact__r", "Invoices__r",
             custom=True),
        _s("External_Id__c", "External Id", 255, custom=True, external_id=True, unique=True,
           id_lookup=True),
        _num("Amount__c", "currency", "Amount", 16, 2, custom=True),
        _num("Discount__c", "percent", "Discount", 5, 2, custom=True),
        _num("Quantity__c", "double", "Quantity", 18, 0, custom=True),
        _int("Line_Count__c", "Line Count", 9, custom=True),
        _pick("Status__c", "Status", ["Draft", "Sent", "Paid", "Void"], custom=True,
              restricted_picklist=True, default_picklist="Draft", default_value=None),
        _multi("Tags__c", "Tags", ["Urgent", "Recurring", "Disputed", "Export"],
               custom=True),
        _bool("Paid__c", "Paid", custom=True),
        _date("Due_Date__c", "Due Date", custom=True),
        _dt("Issued_At__c", "Issued At", custom=True),
        FieldDef("Due_Time__c", "time", "Due Time", custom=True),
        _email("Contact_Email__c", "Contact Email", custom=True),
        _phone("Contact_Phone__c", "Contact Phone", custom=True),
        _url("Portal_Link__c", "Portal Link", custom=True),
        _ta("Notes__c", "Notes", 131072, custom=True),
        _ta("Summary__c", "Summary", 255, custom=True),
        *_system(),
    ]
    return SObjectDef("Invoice__c", "Invoice", "Invoices", "a00", fields, custom=True,
                      feed_enabled=False)


def _profile() -> SObjectDef:
    fields = [
        _id("Profile ID"),
        _s("Name", "Name", 255, nillable=False, name_field=True),
        _ta("Description", "Description", 255),
        _pick("UserType", "User Type", ["Standard", "AutomatedProcess", "CsnOnly"],
              defaulted_on_create=True, default_picklist="Standard"),
        *_system(owner=False),
    ]
    return SObjectDef("Profile", "Profile", "Profiles", "00e", fields, deletable=False,
                      searchable=False, feed_enabled=False)


def default_catalog() -> Catalog:
    """The devorg's standard objects plus the custom ``Invoice__c``."""
    return Catalog(
        [
            _account(), _contact(), _lead(), _opportunity(), _case(), _user(), _profile(),
            _product(), _task(), _content_version(), _invoice(),
        ]
    )
