"""The text of a lecture for accuracy tests and the benchmark, read aloud by the Piper voice.

Plain classroom English with no digits, abbreviations or rare names, so that a word error
rate measures hearing, not spelling conventions. Paragraphs are spoken one after another;
:func:`paragraphs_for` picks as many as a target duration needs (about 18 s each).
"""

from __future__ import annotations

PARAGRAPHS = [
    "Good morning everyone, and welcome back. Today we are going to talk about how energy "
    "moves through an ecosystem. This topic will be on the final exam, so please take careful "
    "notes. We will start with the sun, move on to plants, and finish with the animals that "
    "eat them.",
    "Almost all of the energy in a forest or a lake begins as sunlight. Green plants capture "
    "a small part of that light with a pigment called chlorophyll. They use the energy to join "
    "carbon dioxide and water into sugar, and they release oxygen into the air as a waste product. "
    "We call this process photosynthesis.",
    "The sugar that a plant makes is not only food for the plant itself. It is also stored in "
    "leaves, stems, roots and seeds. When an animal eats the plant, some of that stored energy "
    "passes into the animal. This is the first step of what ecologists call a food chain.",
    "Let me write the main levels on the board. At the bottom we have the producers, which are "
    "the plants and the algae. Above them are the primary consumers, the animals that eat "
    "plants. Next come the secondary consumers, which eat the plant eaters. At the top we find "
    "the predators that very few animals hunt.",
    "Here is the most important idea of the whole lesson. At every step of the chain, most of "
    "the energy is lost. An animal uses energy to move, to keep warm and to grow, and much of it "
    "leaves the body as heat. Only a small part is stored in the body and can be passed on to "
    "the next level.",
    "Ecologists often say that about one tenth of the energy moves from one level to the next. "
    "That rule is only an estimate, and real ecosystems vary a lot. Still, it explains why "
    "there are many more rabbits than foxes in a field, and why large predators need such big "
    "areas to find enough food.",
    "We can draw this idea as a pyramid. The wide base is the energy held by the plants. Each "
    "layer above it is narrower, because less energy reaches it. If you remember the shape of "
    "the pyramid, you will be able to answer most of the questions about energy on the exam.",
    "Now, real animals rarely eat only one kind of food. A bear may eat berries in the summer "
    "and fish in the autumn. A bird may eat seeds on one day and insects on another. When we "
    "connect all of these feeding links together, the chains become a food web.",
    "Food webs are useful because they show how a change in one species can spread through the "
    "whole community. If a disease kills most of the insects in a meadow, the birds that eat "
    "them will go hungry, and the plants that the insects used to eat may grow much faster than "
    "before.",
    "Let us talk about the decomposers, because students often forget them. Fungi, worms and "
    "bacteria break down dead leaves, fallen trees and the bodies of animals. They release the "
    "nutrients back into the soil, where plant roots can take them up again. Without "
    "decomposers, the forest floor would soon be buried in waste.",
    "Notice the difference between energy and nutrients. Energy flows through the ecosystem in "
    "one direction. It enters as light and leaves as heat, and it is never recycled. Nutrients "
    "such as carbon and nitrogen, on the other hand, move in cycles and are used again and "
    "again.",
    "The carbon cycle is a good example. Plants take carbon dioxide out of the air when they "
    "grow. Animals and decomposers return it to the air when they breathe. Some carbon is "
    "stored for a very long time in wood, in the soil and in the deep ocean. Burning coal and "
    "oil releases carbon that was stored for millions of years.",
    "This is why scientists pay so much attention to forests and oceans. They take up a large "
    "share of the carbon that people release. When a forest is cleared, that storage is lost, "
    "and the carbon in the trees often returns to the air. Protecting forests is one way to "
    "slow down climate change.",
    "The nitrogen cycle works in a different way. Most of the air around us is nitrogen, but "
    "plants cannot use it directly. Special bacteria in the soil and in the roots of beans and "
    "peas turn it into a form that plants can absorb. Farmers have used this trick for "
    "centuries by planting beans between other crops.",
    "Water also moves in a cycle. It evaporates from the oceans, forms clouds, falls as rain "
    "and flows back through rivers to the sea. Plants pull water up from the soil and release "
    "it from their leaves. A large forest can even help to make its own rain.",
    "Now I would like you to think about what happens when a new species arrives in an "
    "ecosystem. Sometimes the newcomer has no natural enemies in its new home. It can spread "
    "very quickly and push out the native plants and animals. We call such a species an "
    "invasive species.",
    "Islands are especially sensitive to this problem. Many island birds evolved without any "
    "predators on the ground, so they never learned to fear them. When rats or cats arrived "
    "with ships, these birds had no defense, and many of them disappeared within a few "
    "generations.",
    "Ecosystems can also recover. After a fire, for example, small plants and grasses appear "
    "first. They are followed by shrubs, and after many years by young trees. This slow change "
    "in the community over time is called succession, and it is another term that you should "
    "know for the exam.",
    "Let me say a few words about the exam itself. It will take place in the main hall at the "
    "end of next month. It will cover everything from the beginning of the term up to and "
    "including today's lecture. Please bring a pencil, an eraser and your student card.",
    "The exam will have three parts. The first part is made of short questions about the main "
    "terms, such as producer, consumer, decomposer and succession. The second part asks you to "
    "read a food web and predict what happens when one species is removed. The third part is a "
    "short essay.",
    "For the essay, you will explain why there are so few top predators in any ecosystem. A good "
    "answer uses the energy pyramid, mentions the heat lost at every level, and gives a clear "
    "example from a real place. You do not need to memorize exact numbers, but you should "
    "understand the reasons.",
    "A common mistake on last year's exam was to say that energy is recycled by the "
    "decomposers. Please do not make that mistake. Decomposers recycle nutrients, not energy. "
    "The energy that they use is finally lost as heat, just like the energy used by every other "
    "living thing.",
    "Before the next class, please read the chapter on ecosystems in your textbook and answer "
    "the review questions at the end. We will go through the answers together at the start of "
    "the next lesson. If anything in today's lecture was unclear, come and see me during my "
    "office hours.",
    "Before we finish, I want to go back to the energy pyramid and look at it from the point of "
    "view of people. When we eat bread or rice, we are primary consumers. When we eat meat, we "
    "are secondary consumers, and much more land is needed to grow the food for the animals. "
    "This is one reason why diets differ so much in their effect on the planet.",
    "Farmers can also change an ecosystem on purpose. A field of wheat is a very simple "
    "community. It has one main producer, a few insects and very little variety. Simple "
    "communities like this are easy to harvest, but they are also easy to damage, because a "
    "single pest can spread through the whole field.",
    "A natural meadow, by contrast, may hold dozens of kinds of grass and flowers. If one plant "
    "is attacked by disease, the others are still there to feed the insects and the birds. "
    "Ecologists say that such a community is more stable, and they often link this stability "
    "to the variety of life, which we call biodiversity.",
    "Let me give you a simple way to remember the word biodiversity. It means the variety of "
    "life in a place. It includes the number of different species, the differences between "
    "members of the same species, and the variety of habitats, from wet valleys to dry hills.",
    "Human activity can reduce biodiversity in several ways. We clear forests for farms and "
    "roads, we drain wetlands, and we bring in species from other parts of the world. Pollution "
    "of rivers and lakes can also harm fish and the insects that live in the water.",
    "There is good news as well. Many countries now protect large areas of land and sea as "
    "national parks. In some places, wolves and beavers have been brought back, and the rivers "
    "and forests around them have slowly changed. These projects show how closely every part of "
    "a food web is connected.",
    "When wolves returned to one famous park, for example, the deer changed their behavior. They "
    "spent less time near the rivers, where they were easy to catch. Young trees along the "
    "banks began to grow again, birds came back to nest in them, and the river banks became "
    "more stable.",
    "Scientists call this kind of chain reaction a trophic cascade. The word trophic simply "
    "refers to feeding. A change at the top of the food web cascades down, level by level, all "
    "the way to the plants and even to the shape of the land. You may see this term on the exam "
    "as well.",
    "I would also like you to practice drawing food webs yourself. Choose a place that you know "
    "well, such as a park, a garden or the coast. List the plants, the animals that eat them and "
    "the predators, and then connect them with arrows that point in the direction the energy "
    "flows.",
    "A small tip about the arrows. Students often draw them the wrong way round. The arrow goes "
    "from the food to the animal that eats it, because it shows the direction in which energy "
    "moves. So the arrow points from the grass to the rabbit, and from the rabbit to the fox.",
    "To sum up, energy enters an ecosystem as sunlight, is captured by plants, and moves up the "
    "food chain, with most of it lost as heat at every step. Nutrients move in cycles and are "
    "returned to the soil by the decomposers. Keep these two ideas apart, and you will do well. "
    "Thank you, and see you next week.",
]

# Spoken by the Piper voice (sentence pauses included), a paragraph lasts 15 to 21 s.
SECONDS_PER_PARAGRAPH = 17.5


def paragraphs_for(seconds: float) -> list[str]:
    """Enough paragraphs (in order, repeated from the start if needed) for ``seconds``."""
    count = max(1, int(seconds / SECONDS_PER_PARAGRAPH + 0.999))
    return [PARAGRAPHS[i % len(PARAGRAPHS)] for i in range(count)]
