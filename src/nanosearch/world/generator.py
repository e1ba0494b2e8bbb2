"""A seeded fictional encyclopedia: entities of five kinds, typed relations and attributes, one
passage per entity, and 1-, 2- and 3-hop questions split by subject entity.

Every name is invented and every fact drawn at random, so no prior knowledge can answer a
question: the answer exists only in the corpus. Person names share given and family names and
organisations share their last word, so a lazy query (one word of a name, the question's
common words) brings the wrong passages first.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nanosearch.corpus import Document
from nanosearch.world.names import NameMaker, lexicon

KINDS = ("person", "city", "country", "river", "organization")
SHARES = {"person": 0.34, "city": 0.22, "country": 0.08, "river": 0.12, "organization": 0.24}
OCCUPATIONS = (
    "painter",
    "poet",
    "engineer",
    "astronomer",
    "composer",
    "merchant",
    "physician",
    "architect",
    "cartographer",
    "weaver",
    "sculptor",
    "botanist",
)
ORG_WORDS = ("Guild", "Company", "Institute", "Academy", "Society", "Works")
HOP_SHARES = {1: 0.678, 2: 0.208, 3: 0.114}  # the report's MuSiQue-style proportions
SPLITS = ("train", "dev", "test")
NAME_SOURCES = ("invented", "lexicon")
PRETRAINING_SEED = 10_000  # worlds of this seed and the next are a base's pretraining worlds

# relation -> (subject kind, object kind; None for a literal value)
RELATIONS: dict[str, tuple[str, str | None]] = {
    "born_in": ("person", "city"),
    "birth_year": ("person", None),
    "occupation": ("person", None),
    "located_in": ("city", "country"),
    "city_founded": ("city", None),
    "capital": ("country", "city"),
    "flows_through": ("river", "country"),
    "founded_by": ("organization", "person"),
    "org_founded": ("organization", None),
    "based_in": ("organization", "city"),
}

FACT_SENTENCES: dict[str, tuple[str, ...]] = {
    "born_in": (
        "{s} was born in {o}.",
        "{s} was a native of {o}, where {p} was born.",
        "Born in {o}, {s} spent {q} early years there.",
    ),
    "birth_year": (
        "{s} was born in the year {o}.",
        "{S} came into the world in {o}.",
        "The birth of {s} is recorded in {o}.",
    ),
    "occupation": (
        "{s} worked as a {o}.",
        "By trade {s} was a {o}.",
        "{S} is remembered as a {o}.",
    ),
    "located_in": (
        "{s} is a city in {o}.",
        "{s} lies within the borders of {o}.",
        "The city of {s} belongs to {o}.",
    ),
    "city_founded": (
        "{s} was founded in {o}.",
        "The first houses of {s} were built in {o}.",
        "{s} dates its founding to {o}.",
    ),
    "capital": (
        "The capital of {s} is {o}.",
        "{o} serves as the capital of {s}.",
        "{s} is governed from its capital, {o}.",
    ),
    "flows_through": (
        "The {s} flows through {o}.",
        "The {s} runs across {o}.",
        "For most of its course the {s} crosses {o}.",
    ),
    "founded_by": (
        "The {s} was founded by {o}.",
        "{o} established the {s}.",
        "The {s} owes its creation to {o}.",
    ),
    "org_founded": (
        "The {s} was set up in {o}.",
        "The {s} opened its doors in {o}.",
        "The {s} has existed since {o}.",
    ),
    "based_in": (
        "The {s} is based in {o}.",
        "The {s} has its seat in {o}.",
        "The headquarters of the {s} stand in {o}.",
    ),
}
FILLER_SENTENCES: dict[str, tuple[str, ...]] = {
    "person": (
        "{s} corresponded for years with {other}.",
        "{s} was often mistaken for {other}.",
        "A portrait of {s} hangs beside one of {other}.",
    ),
    "city": (
        "Travellers from {other} often pass through {s}.",
        "{s} is twinned with the city of {other}.",
        "{s} is larger than nearby {other}.",
    ),
    "country": (
        "{s} shares a long border with {other}.",
        "{s} trades mostly with {other}.",
        "The people of {s} and {other} speak related languages.",
    ),
    "river": (
        "The {s} is often confused with the {other}.",
        "Boats on the {s} carry timber to the {other}.",
        "The {s} is wider than the {other}.",
    ),
    "organization": (
        "The {s} competed for many years with the {other}.",
        "The {s} shares a library with the {other}.",
        "Members of the {s} often join the {other}.",
    ),
}

# Question chains: subject kind, relations followed in order, paraphrased templates.
CHAINS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "person",
        ("born_in",),
        ("Where was {s} born?", "In which city was {s} born?", "What is the birthplace of {s}?"),
    ),
    (
        "person",
        ("birth_year",),
        ("In what year was {s} born?", "When was {s} born?", "What is the birth year of {s}?"),
    ),
    ("person", ("occupation",), ("What was the occupation of {s}?", "What did {s} work as?")),
    (
        "city",
        ("located_in",),
        ("In which country is {s}?", "Which country is {s} in?", "{s} is a city in which country?"),
    ),
    ("city", ("city_founded",), ("In what year was {s} founded?", "When was {s} founded?")),
    ("country", ("capital",), ("What is the capital of {s}?", "Which city is the capital of {s}?")),
    (
        "river",
        ("flows_through",),
        ("Which country does the {s} flow through?", "Through which country does the {s} run?"),
    ),
    (
        "organization",
        ("founded_by",),
        ("Who founded the {s}?", "Who established the {s}?", "Who was the founder of the {s}?"),
    ),
    (
        "organization",
        ("org_founded",),
        ("In what year was the {s} founded?", "When was the {s} set up?"),
    ),
    ("organization", ("based_in",), ("Where is the {s} based?", "In which city is the {s} based?")),
    (
        "person",
        ("born_in", "located_in"),
        ("In which country was {s} born?", "Which country is the birthplace of {s} in?"),
    ),
    (
        "person",
        ("born_in", "city_founded"),
        (
            "When was the birthplace of {s} founded?",
            "In what year was the city where {s} was born founded?",
        ),
    ),
    (
        "organization",
        ("founded_by", "born_in"),
        (
            "Where was the founder of the {s} born?",
            "In which city was the founder of the {s} born?",
        ),
    ),
    (
        "organization",
        ("founded_by", "birth_year"),
        ("In what year was the founder of the {s} born?", "When was the founder of the {s} born?"),
    ),
    (
        "organization",
        ("based_in", "located_in"),
        ("In which country is the {s} based?", "Which country is the {s} based in?"),
    ),
    (
        "river",
        ("flows_through", "capital"),
        (
            "What is the capital of the country the {s} flows through?",
            "Which city is the capital of the country the {s} runs across?",
        ),
    ),
    (
        "country",
        ("capital", "city_founded"),
        ("When was the capital of {s} founded?", "In what year was the capital of {s} founded?"),
    ),
    (
        "organization",
        ("founded_by", "born_in", "located_in"),
        (
            "In which country was the founder of the {s} born?",
            "Which country is the birthplace of the founder of the {s} in?",
        ),
    ),
    (
        "person",
        ("born_in", "located_in", "capital"),
        (
            "What is the capital of the country where {s} was born?",
            "Which city is the capital of the country {s} was born in?",
        ),
    ),
    (
        "organization",
        ("based_in", "located_in", "capital"),
        (
            "What is the capital of the country where the {s} is based?",
            "Which city is the capital of the country the {s} is based in?",
        ),
    ),
    (
        "river",
        ("flows_through", "capital", "city_founded"),
        (
            "When was the capital of the country the {s} flows through founded?",
            "In what year was the capital of the country the {s} crosses founded?",
        ),
    ),
)


@dataclass
class Entity:
    id: str
    kind: str
    name: str
    facts: dict[str, str] = field(default_factory=dict)  # relation -> entity id or a value
    aliases: list[str] = field(default_factory=list)
    pronoun: tuple[str, str] = ("it", "its")


@dataclass
class World:
    seed: int
    entities: dict[str, Entity]
    passages: list[dict[str, Any]]
    questions: dict[str, list[dict[str, Any]]]
    names: str = "invented"  # one of NAME_SOURCES

    def value(self, reference: str) -> str:
        entity = self.entities.get(reference)
        return entity.name if entity is not None else reference

    def mentions(self) -> list[str]:
        """Every name and value a passage can hold: the candidates a format-only answer
        draws from."""
        values = {e.name for e in self.entities.values()}
        for entity in self.entities.values():
            values.update(v for r, v in entity.facts.items() if RELATIONS[r][1] is None)
        return sorted(values)

    def documents(self) -> list[Document]:
        """The passages as the corpus reader gives them (what an index is built from)."""
        return [Document(p["id"], p["title"], p["text"]) for p in self.passages]


def entity_counts(total: int) -> dict[str, int]:
    if total < 50:
        raise ValueError(f"a world needs at least 50 entities, got {total}")
    counts = {kind: max(3, round(total * share)) for kind, share in SHARES.items()}
    counts["person"] += total - sum(counts.values())
    return counts


def name_counts(total: int) -> dict[str, int]:
    """The words of each kind a world of ``total`` entities invents or draws: a person's name
    pairs a given and a family name, and an organization's a stem and one of ORG_WORDS."""
    counts = entity_counts(total)
    people = counts["person"]
    return {
        "country": counts["country"],
        "city": counts["city"],
        "river": counts["river"],
        "given": max(8, int(people**0.5 * 2)),
        "family": max(8, int(people**0.5 * 3)),
        "organization": max(6, counts["organization"] // 2),
    }


@functools.cache
def lexicon_capacity() -> int:
    """The most entities a lexicon world can have: the largest total whose words of every kind
    the lexicon holds."""
    words = lexicon()
    total = 50
    while all(n <= len(words[kind]) for kind, n in name_counts(total + 1).items()):
        total += 1
    return total


def check_lexicon_holds(entities: int) -> None:
    """Refuse a lexicon world of more entities than the lexicon names."""
    if entities > lexicon_capacity():
        raise ValueError(
            f"a world of lexicon names has at most {lexicon_capacity()} entities, "
            f"got {entities}: lower the number of entities"
        )


def generate_world(
    seed: int = 0,
    entities: int = 600,
    splits: tuple[float, float] = (0.1, 0.1),
    names: str = "invented",
) -> World:
    """The whole world, a pure function of ``seed``, ``entities`` and where its ``names`` come
    from: invented for it, or drawn from the fixed :func:`~nanosearch.world.names.lexicon`."""
    if names not in NAME_SOURCES:
        raise ValueError(f"names must be one of {', '.join(NAME_SOURCES)}, not {names!r}")
    if names == "lexicon":
        check_lexicon_holds(entities)
    rng = random.Random(seed)
    counts = entity_counts(entities)
    words = name_counts(entities)
    maker = NameMaker(rng, lexicon() if names == "lexicon" else None)
    by_kind: dict[str, list[Entity]] = {kind: [] for kind in KINDS}

    def add(kind: str, name: str, **extra: Any) -> Entity:
        entity = Entity(f"world-{kind}-{len(by_kind[kind]):04d}", kind, name, **extra)
        by_kind[kind].append(entity)
        return entity

    for _ in range(counts["country"]):
        name = maker.make("country")
        add("country", name, aliases=[f"Republic of {name}"])
    for _ in range(counts["city"]):
        add("city", maker.make("city"))
    for _ in range(counts["river"]):
        add("river", f"{maker.make('river')} River")
    given = maker.pool("given", words["given"])
    family = maker.pool("family", words["family"])
    pairs = [(g, f) for g in given for f in family]
    for first, last in rng.sample(pairs, counts["person"]):
        pronoun = rng.choice([("he", "his"), ("she", "her")])
        add("person", f"{first} {last}", aliases=[f"{last}, {first}"], pronoun=pronoun)
    stems = maker.pool("organization", words["organization"])
    org_names = rng.sample([f"{s} {w}" for s in stems for w in ORG_WORDS], counts["organization"])
    for name in org_names:
        add("organization", name)

    countries, cities = by_kind["country"], by_kind["city"]
    for position, city in enumerate(cities):
        # every country gets a city first, so every country can have a capital
        country = countries[position] if position < len(countries) else rng.choice(countries)
        city.facts["located_in"] = country.id
        city.facts["city_founded"] = str(rng.randint(900, 1800))
    for country in countries:
        own = [c for c in cities if c.facts["located_in"] == country.id]
        country.facts["capital"] = rng.choice(own).id
    for river in by_kind["river"]:
        river.facts["flows_through"] = rng.choice(countries).id
    for person in by_kind["person"]:
        person.facts["born_in"] = rng.choice(cities).id
        person.facts["birth_year"] = str(rng.randint(1700, 1990))
        person.facts["occupation"] = rng.choice(OCCUPATIONS)
    for org in by_kind["organization"]:
        org.facts["founded_by"] = rng.choice(by_kind["person"]).id
        org.facts["org_founded"] = str(rng.randint(1750, 2015))
        org.facts["based_in"] = rng.choice(cities).id

    entities_by_id = {e.id: e for kind in KINDS for e in by_kind[kind]}
    world = World(seed, entities_by_id, [], {}, names)
    world.passages = [passage(world, e, rng, by_kind) for e in entities_by_id.values()]
    world.questions = split_questions(world, rng, splits)
    return world


def passage(
    world: World, entity: Entity, rng: random.Random, by_kind: dict[str, list[Entity]]
) -> dict[str, Any]:
    """Title + the entity's facts in shuffled, varied sentences, then sentences that name other
    entities of the same kind."""
    subject, possessive = entity.pronoun
    facts = list(entity.facts.items())
    rng.shuffle(facts)
    sentences = []
    if entity.kind == "country":
        sentences.append(f"{entity.name}, officially the {entity.aliases[0]}, is a country.")
    for relation, reference in facts:
        template = rng.choice(FACT_SENTENCES[relation])
        value = world.value(reference)
        sentence = template.format(s=entity.name, S=entity.name, o=value, p=subject, q=possessive)
        sentences.append(sentence.replace(f" a {value}", f" {article(value)} {value}"))
    others = [e for e in by_kind[entity.kind] if e.id != entity.id]
    for template in rng.sample(FILLER_SENTENCES[entity.kind], 2):
        sentences.append(template.format(s=entity.name, other=rng.choice(others).name))
    text = " ".join(sentence[0].upper() + sentence[1:] for sentence in sentences)
    return {"id": entity.id, "title": entity.name, "text": text}


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def follow(world: World, subject: Entity, relations: tuple[str, ...]) -> tuple[str, list[str]]:
    """The answer of a chain and the ids of the passages that hold each step's fact."""
    current, supporting = subject, []
    reference = subject.id
    for relation in relations:
        supporting.append(current.id)
        reference = current.facts[relation]
        if relation != relations[-1]:
            current = world.entities[reference]
    return reference, supporting


def questions_about(world: World, subject: Entity, rng: random.Random) -> list[dict[str, Any]]:
    found = []
    for kind, relations, templates in CHAINS:
        if kind != subject.kind:
            continue
        reference, supporting = follow(world, subject, relations)
        answer_entity = world.entities.get(reference)
        template = rng.choice(templates)
        found.append(
            {
                "question": template.format(s=subject.name),
                "answer": world.value(reference),
                "answer_aliases": list(answer_entity.aliases) if answer_entity else [],
                "hops": len(relations),
                "relations": list(relations),
                "subject": subject.id,
                "supporting_ids": supporting,
            }
        )
    return found


def split_questions(
    world: World, rng: random.Random, splits: tuple[float, float]
) -> dict[str, list[dict[str, Any]]]:
    """Subjects go to train, dev or test by entity, then each split keeps all its 1-hop
    questions and as many 2- and 3-hop ones as the report's proportions allow."""
    subjects = list(world.entities.values())
    rng.shuffle(subjects)
    dev_count = round(len(subjects) * splits[0])
    test_count = round(len(subjects) * splits[1])
    assigned = {
        "dev": subjects[:dev_count],
        "test": subjects[dev_count : dev_count + test_count],
        "train": subjects[dev_count + test_count :],
    }
    result = {}
    for name in SPLITS:
        pool = [q for s in assigned[name] for q in questions_about(world, s, rng)]
        by_hops: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
        for question in pool:
            by_hops[question["hops"]].append(question)
        total = min(len(by_hops[h]) / share for h, share in HOP_SHARES.items())
        chosen = []
        for hops, share in HOP_SHARES.items():
            chosen += rng.sample(by_hops[hops], int(total * share))
        rng.shuffle(chosen)
        for number, question in enumerate(chosen):
            question["id"] = f"world-{name}-{number:05d}"
        result[name] = [{"id": q.pop("id"), **q} for q in chosen]
    return result


def hop_counts(questions: list[dict[str, Any]]) -> dict[int, int]:
    return dict(sorted(Counter(q["hops"] for q in questions).items()))
