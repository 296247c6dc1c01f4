"""The shapes of a message that settle its intent toward memory, or bound what the model may say of it.

A message whose shape settles the question is decided by rule: a question about what was decided before
or about how things stand now, a correction that names what is true now, a standing rule worded as an
order, an order to deploy, migrate or set up something of the project's, an explicit "remember that", a
question about the code at hand or the live session, a question of general knowledge, an acknowledgement,
bare command output. Where the shape leaves it open, `shape` says what the form still allows (one
question states nothing to keep; nothing said to have changed is no correction). These are general
statements about how people ask about the past and tell an agent to keep something, in English and
Chinese; they are not fitted to any evaluation case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from server.rules import signals

Intent = Literal["RECALL", "REMEMBER", "BOTH", "NONE"]
INTENTS: tuple[Intent, ...] = ("RECALL", "REMEMBER", "BOTH", "NONE")


@dataclass(frozen=True)
class IntentRule:
    intent: Intent
    rule: str


# -- rules --------------------------------------------------------------------------------------

_ACK_WORDS = {
    # English acknowledgements and go-aheads
    "ok", "okay", "k", "kk", "thanks", "thank you", "thx", "ty", "cheers", "great", "nice", "cool", "perfect",
    "lgtm", "looks good", "sounds good", "got it", "yes", "yep", "yeah", "yup", "sure", "done", "good",
    "awesome", "excellent", "fine", "alright", "all right", "continue", "go on", "go ahead", "proceed",
    "carry on", "hi", "hello", "hey", "good morning", "bye", "nice work", "good job", "well done", "amazing",
    "much appreciated", "appreciated", "no problem", "np", "great work", "thanks a lot", "thank you so much",
    "ship it", "works", "it works", "that works", "makes sense", "understood", "nevermind", "never mind",
    # Chinese
    "好", "好的", "好滴", "好嘞", "嗯", "嗯嗯", "行", "可以", "谢谢", "多谢", "感谢", "收到", "明白", "明白了",
    "没问题", "继续", "对", "是的", "不错", "很好", "好了", "辛苦了", "太好了", "可以了", "懂了", "知道了",
    "你好", "早上好", "行吧", "好吧", "完美", "棒", "厉害", "谢啦", "谢了",
}  # fmt: skip
# Words that may stand beside an acknowledgement without making it more ("thanks, that's perfect").
_ACK_FILLERS = {
    "that's", "thats", "that", "it's", "its", "is", "so", "very", "really", "much", "all", "for", "the", "help",
    "a", "lot", "you", "now", "again", "please", "just", "oh", "ah", "wow", "man", "buddy", "guys", "how's",
    "it", "going", "how", "are", "doing", "today", "there", "then", "and", "thank",
}  # fmt: skip
_ZH_PARTICLES = "吧啊呀哈了呢哦噢嘛啦"
_ACK_SPLIT = re.compile(r"[\s,.!?？~。，！、…:;；：)(（）\-]+|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_ACK_MAX_CHARS = 40

# Asking what was settled before: a past-tense question about a choice, a convention, an earlier time.
_RECALL_EN = re.compile(
    r"\b(what|which|where|when|how|who|why)\b[^.?!\n]{0,60}?\b(did|do|have|had)\s+(we|i|you|they|the team)\s+"
    r"(ever\s+)?(decide|decided|pick|picked|choose|chose|chosen|agree|agreed|settle|settled|go with|went with|"
    r"land on|landed on|end up|ended up|say|said|use|used|fix|fixed|solve|solved|set|configure|configured|"
    r"name|named|call|called|conclude|concluded)\b"
    r"|\b(do|did) you (still )?(remember|recall)\b"
    r"|\b(can you )?(remind me|refresh my memory)\b"
    r"|\b(last time|previously|the other day|in the past)\b[^.!\n]*\?|\b(before|earlier)\s*[?？]"
    r"|\b(i|we) (told|gave|showed|taught|sent|asked) you\b|\bdid (i|we) (ever )?(tell|give|show|mention)\b"
    r"|\bwhat(ever)? (i|we) (said|told you|decided|agreed)\b"
    r"|^\s*did (we|i|you) (ever )?(figure out|find out|decide|agree|settle|fix|solve|learn|discuss|look into)\b"
    r"|\b(we|you and i) (discussed|talked about|went over|covered|looked into) (this|that|it)\b"
    r"|\b(my|our) usual\b|\bas usual\b|\bthe usual (way|format|style|setup|steps)\b"
    r"|\b(like|as) (we|i) (usually|always|normally) do\b|\bthe way we did (it )?(before|last time)\b|\blike last time\b"
    r"|\bwhat (is|was|were|are|'s) (our|the team's|my|the project's|this project's) "
    r"(convention|conventions|policy|decision|preference|preferences|rule|rules|standard|approach|setup|"
    r"stack|workflow|process)\b"
    r"|\bhow do (we|i) (usually|normally|typically|always)\b"
    r"|\bwhat do (we|i) (usually|normally|typically|always)\b"
    r"|\bwhat did (we|i|you) (learn|find out|conclude|note)\b",
    re.IGNORECASE,
)
_RECALL_ZH = re.compile(
    r"上次|上回|还记得|记不记得|记得吗|(告诉|提|说|讲|交代)过你"
    r"|(之前|以前|当时|早先)[^。！\n]{0,16}(决定|选|(?<!一)定|约定|说|讨论|商量|用|怎么|如何|为什么|是什么|哪)"
    r"|老样子|照旧|按老规矩|(按|照|跟|和)(之前|以前|上次)(的|那样|一样)"
    r"|我们[^。！\n]{0,12}(决定|选|定|约定)(了)?[^。！\n]{0,6}(什么|哪|啥|吗|没有)"
    r"|(我们|咱们)(一般|通常|平时|一直)[^。！\n]{0,10}(怎么|如何|用什么|用哪)"
)
# Telling the agent to keep something from now on.
_REMEMBER_EN = re.compile(
    r"^\s*(please\s+)?(remember|note|keep in mind|don't forget|do not forget|never forget|make a note|"
    r"for (future|the) record|for future reference|fyi|heads up)\b(\s+that)?\s*[:,-]?\s*\S"
    r"|\b(from now on|going forward|in the future|in future|from here on|henceforth)\b"
    r"|\bkeep (this|that|it) in mind\b|\bworth (remembering|noting|knowing)\b|\bfor next time\b"
    r"|^\s*(rule|convention|policy|standard)( for [^:]{1,30})?\s*:",
    re.IGNORECASE,
)
# A sentence that states a standing rule rather than a one-off order: it opens with always / never, says
# what "we" always or never do, or marks itself as general ("in general", "as a rule").
_STANDING_RULE = re.compile(
    r"^\s*(and\s+|also\s+|btw\s+|but\s+)?(please\s+|pls\s+)?(always|never(?! ?mind)|don't ever|do not ever|dont ever)\b"
    r"|\b(we|i) (always|never)\b"
    r"(?! (know|knew|remember|thought|expected|seen|saw|got|get|had|forget|forgot|mix|lose|miss|confuse))"
    r"|\b(in general|generally|as a rule|as a general rule)\b"
    r"|^\s*(永远|一律|总是|千万|务必)|(一定要|千万别|千万不要|绝对不要|绝不)",
    re.IGNORECASE,
)
_REMEMBER_ZH = re.compile(
    r"^\s*(请)?(记住|记一下|记下|记好|别忘了|不要忘了|注意)|以后(都|一律|请|要|别|不要|统一)|从现在(起|开始)|今后"
)
# A short instruction about the code at hand: an editing verb first, and something here it points at.
_EDIT_VERB = re.compile(
    r"^\s*(please\s+|pls\s+|can you\s+|could you\s+)?(rename|format|reformat|indent|dedent|"
    r"add (a |an )?(blank line|newline|comment|docstring|"
    r"type hints?|log line|print)|remove|delete|drop|show( me)?|print|explain|run|rerun|re-run|undo|revert|move|"
    r"sort|wrap|inline|extract|split|make (it|this|that|these|the)|change (this|that|the)|fix (the|this) typo|"
    r"convert (this|that|the))\b"
    r"|^\s*(请)?(把|将|给)?(这个|这段|这里|这行|这几行|上面|下面)",
    re.IGNORECASE,
)
_HERE = re.compile(
    r"\b(this|that|these|those|here|above|below|it)\b|`[^`]+`|\b[\w/-]+\.(py|ts|tsx|js|go|rs|java|md|json|ya?ml|toml)\b"
    r"|\bthe (\w+ ){0,2}(diff|output|file|function|line|lines|variable|button|test|tests|class|method|loop|import|"
    r"imports)\b|\btypos?\b"
    r"|这个|这段|这里|这行|上面|下面",
    re.IGNORECASE,
)
_EDIT_MAX_CHARS = 120
_QUESTION = re.compile(r"[?？]")

# Asking how things stand now: a question (not a request) about what "we" use or have, or about the
# present value of something, that points at nothing in front of the agent. The answer lives in memory.
_STATE_QUESTION_EN = re.compile(
    r"^\s*(and |so |but |ok,? |also,? )?(what|what's|whats|which|where|where's|who|who's|whose|when|how|"
    r"is|are|was|do|does|did|have|has|are we|do we)\b",
    re.IGNORECASE,
)
_STATE_NOW_EN = re.compile(
    r"\b(we|we're|we've|our|ours|us|the team|the team's|currently|still|these days|nowadays|at the moment|"
    r"right now|now|anymore|any more|any longer)\b|\bagain\s*[?？.]?\s*$",
    re.IGNORECASE,
)
_OWNER_QUESTION = re.compile(
    r"^\s*who('s| is| are)?\s+(owns?|maintains?|in charge of|responsible for|looks after|runs|on call)\b"
    r"|^\s*谁(负责|管|维护|在管|是负责人)|(负责人|维护人|owner)是谁",
    re.IGNORECASE,
)
# Asking for advice or making a request is not asking how things stand.
_ADVICE = re.compile(
    r"\b(should|shall|could|would|can|will|might)\s+(we|i|you)\b|\bdo you think\b|\bwhat if\b|\bwhat about\b"
    r"|你觉得|你认为|应该|要不要|能不能|可不可以|可以吗|是不是该",
    re.IGNORECASE,
)
_STATE_QUESTION_ZH = re.compile(r"[?？]\s*$|(吗|呢|么)[。.?？]?\s*$|什么|哪|多少|谁|几|怎么|如何|是否|有没有|还是")
_STATE_NOW_ZH = re.compile(r"我们|咱们|现在|目前|如今|还在|仍然|依然|一般|平时|通常|团队")
# Something in front of the agent: the code, the file, the output at hand.
_AT_HAND = re.compile(
    r"\b(this|these|here|above|below)\b(?! (days|week|weeks|month|year|morning|afternoon|time|sprint|quarter))"
    r"|`[^`]+`|\b[\w/-]+\.(py|ts|tsx|js|go|rs|java|md|json|ya?ml|toml)\b|这个|这段|这里|这行|这样|这么|上面|下面",
    re.IGNORECASE,
)
# Saying something stored is wrong or has changed, and what is true now: an opening that contradicts,
# or a statement that names the old value beside the new one.
_CORRECTION_OPEN_EN = re.compile(
    r"^\s*(no|nope|nah|not quite|wrong|incorrect|actually|correction|"
    r"(that's|that is|this is|it's|it is) (wrong|not right|not true|incorrect|outdated|out of date|old|stale|"
    r"no longer (true|right|the case))|"
    r"wrong \w+|not \w+(?= *[:,;\u2014\u2013-]))\b\s*[,.:;!\u2014\u2013-]*\s*",
    re.IGNORECASE,
)
_CORRECTION_OPEN_ZH = re.compile(
    r"^\s*(不对|不是的|错了|搞错了|其实|更正|纠正一下|实际上|准确地说|不，|不,)[，,：:。\s]*"
)
_NOT_X_BUT_Y_ZH = re.compile(r"^\s*不是[^，,。？?]{1,30}[，,]\s*(而)?是\s*\S")
_CHANGED = re.compile(
    r"\b(now|these days|nowadays|since \w+)\b[^.?!\n]{0,60},\s*not\b"
    r"|\b(not|isn't|isnt|aren't|arent|doesn't|doesnt|don't|dont|won't|wont)\b[^.?!\n]{0,40}\b(any ?more|any longer)\b"
    r"|\bno longer\b|\b(is|are) gone\b"
    r"|\b(got|was|were|has been|have been) (migrated|moved|renamed|replaced|retired|deprecated|decommissioned|"
    r"switched)\b"
    r"|\b(we|they|we've|we have|it|it's|has|have)\s+(moved|switched|migrated|changed|renamed|replaced)\b[^.?!\n]{0,40}"
    r"\b(to|from|with|into|over)\b"
    r"|(已经|现在)[^。？?！!\n]{0,20}(改|换|迁|切|升|转|搬)[^。？?！!\n]{0,20}了"
    r"|现在[^。？?！!\n]{1,30}[，,]\s*(不是|而不是)"
    r"|(改成|改为|换成|换为|迁到|迁移到|切到|切换到|升到|升级到)[^。？?！!\n]{1,20}了"
    r"|不再",
    re.IGNORECASE,
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Where one sentence ends and another starts (a statement before a question makes two).
_SENTENCES = re.compile(r"(?<=[.;!。；！])\s*|(?<=[?？])\s+(?=\S)")
_REQUEST = re.compile(r"^\s*(can you|could you|would you|will you|please|pls|help me|帮我|帮忙|请|麻烦)", re.IGNORECASE)
# The code, file or output in front of the agent, named as such.
_CODE_AT_HAND = re.compile(
    r"\b(this|that|these|those|the above|the following)\s+(\w+\s+)?(function|functions|method|class|code|line|"
    r"lines|loop|regex|variable|snippet|block|query|component|file|diff|output|error|expression|condition|"
    r"script|test|tests|hunk|stack ?trace|traceback|repo|codebase|directory|folder|module|package)\b"
    r"|^\s*(what's|whats|what is) in \S+|\b[\w/-]+\.(py|ts|tsx|js|go|rs|java|json|ya?ml|toml)\b.*[?？]\s*$"
    r"|这段代码|这个函数|这个方法|这个类|这个变量|这个正则|这行|这几行|上面的代码|下面的代码|这个报错|这个文件",
    re.IGNORECASE,
)
# What follows "no," when it is not a correction: an order, a wait, an acknowledgement.
_NOT_A_STATEMENT = re.compile(
    r"^(don't|do not|stop|wait|hold on|leave|keep|just|please|let's|let us|let me|not yet|not now|thanks|"
    r"thank you|i mean|i meant|never ?mind|worries|problem|idea|clue)\b|^(别|不要|先|等|我说|我是说|我的意思|我指)",
    re.IGNORECASE,
)
# An order after "no,": "no, use the other file"; or the attempt turned down: "no, that's not it".
_ORDER = re.compile(
    r"^(that's not it|thats not it|not it|not that one|not what i (meant|asked)|that('s| is) not what i|"
    r"still (failing|broken|wrong|the same)|doesn't work|didn't work)\b"
    r"|^(use|do|try|put|make|add|remove|delete|run|rerun|go|revert|undo|take|pick|open|close|show|write|call|"
    r"rename|move|fix|check|look|change|skip|ignore|drop|start|restart)\b|^(用|改|换|加|删|跑|试|看|去|把)",
    re.IGNORECASE,
)
# A value a correction names: a number, a name, an identifier, code, or the old value set against it.
_NAMED_VALUE = re.compile(
    r"\d|`|[A-Za-z]+[-_./:@][A-Za-z0-9]|(?<=\s)(?!I\b)[A-Z][A-Za-z0-9]+|[\u4e00-\u9fff]"
    r"|,\s*not\b|\binstead of\b|\bno longer\b|\bany ?more\b"
)
# Starting a piece of project work the stored decisions and lessons bear on: an operations verb first,
# aimed at a service or environment rather than at the code in front of the agent.
_TASK_EN = re.compile(
    r"^\s*(please\s+|let's\s+|let us\s+|can you\s+|could you\s+|we need to\s+|i need to\s+|time to\s+)?"
    r"(set up|setup|deploy|redeploy|release|cut (a |the )?(release|\d)|roll out|roll back|rollback|migrate|"
    r"upgrade|downgrade|provision|configure|bootstrap|debug|investigate|troubleshoot|"
    r"figure out why|find out why|look into why)\b",
    re.IGNORECASE,
)
_TASK_ZH = re.compile(
    r"^\s*((请|帮我|帮忙|麻烦你?|我们来|咱们来|来|去)[^。？?！!\n的]{0,8})?(部署|上线|发布|迁移|升级|配置|搭建|排查|回滚|deploy)"
)
# Saying that something stored has changed or was wrong. Where none of this is said, a model's reading of
# "correction" is not the message's: a firm preference ("no default exports, ever") corrects nothing.
_CONTRADICTS = re.compile(
    r"^\s*((hmm+|um+|uh+|ah+|oh+|well)[,.\s]+)?(no|nope|nah|not quite|wrong|incorrect)\s*[,.:;!\u2014\u2013-]"
    r"|^\s*(actually|correction)\b"
    r"|^\s*no\s+(it|it's|its|we|we're|that|that's|the|this|you|you're)\b|^\s*(不对|不是|错了|其实|更正|纠正)",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(switched|switching|moved|changed|changing|replaced|replacing|migrated|migrating|renamed|reverted|"
    r"retired|deprecated|decommissioned|went back|going back|rolled back|swapped|reversed)\b"
    r"|\b(update|fix|correct|change|amend|replace) (that|this|it|your notes|the note|the memory|what you ha(ve|d))\b"
    r"|\b(is|was|are|were|it's|its|that's|thats) (wrong|incorrect|old|the old)\b|\bthe old\b"
    r"|\b(any ?more|any longer|no longer|is gone|are gone|outdated|out of date|stale|obsolete|scratch that|"
    r"changed my mind|on second thought|turns out|not true|not right|update on)\b"
    r"|\b(as of|starting|since) (today|now|this week|this sprint|last week|monday)\b"
    r"|\b(we|you) (wrote down|noted|saved|stored|have on file)\b"
    r"|^\s*(please\s+|just\s+)?(scrap|forget|ignore|disregard) what (i|we) (said|told you|wrote)\b"
    r"|\b(is|are|it's|we're|were|uses|use|runs|run|lives|points|goes|sits)\b[^.?!\n,;:]{1,40}"
    r"\bnow( btw| fyi| though)?\b[.!\s]*$"
    r"|\b(you said|you have|you've got|you had|we noted|we had|i told you|we said|we agreed)\b[^.?!\n]{0,80}\bbut\b"
    r"|\b(dropping|drop|scrap|scrapping|ditch|ditching|forget|retire|retiring|replace|replacing|reverse|"
    r"reversing|undo) (the|that|our|this)\b[^.?!\n]{0,30}\b(rule|convention|policy|decision|guideline|"
    r"practice|approach|plan)\b"
    r"|\b(add|adding) (one more|another|a new|a second|a third) (rule|step|item|point|one)\b|\badd one more\b"
    r"|不对|错了|错的|有误|不准确|不是了|改成|改为|换成|换为|改一下|换一下|迁到|迁移到|切到|切换到|不再|不用了|取消了|废弃|弃用|作废|过时"
    r"|已经[^。？?！!\n]{0,10}(改|换|迁|切|升|转|搬|不)|再加|加一条|补充一条|新增一条",
    re.IGNORECASE,
)
# Asking about the live session, which the agent can look at and memory cannot know: the branch checked
# out, whether a process still runs, whether the last run passed.
_LIVE_STATE = re.compile(
    r"\b(what|which)\b[^?？]{0,30}\b(am i|are you) (on|in|using|running)\b|^\s*(am i|are you) (on|in)\b"
    r"|\b(still\s+)?(running|up|alive|down|building|compiling|loading|hanging|stuck|passing|failing|green|"
    r"done|finished)\s*(yet|now|rn|right now)?\s*[?？]\s*$"
    r"|^\s*did (it|that|this|the (\w+ )?(tests?|build|deploy|deployment|job|command|script|migration|pipeline|ci|"
    r"run|install))\s+(pass|fail|work|finish|succeed|go through|run|complete|break)\b"
    r"|(跑完|跑通|通过|挂|成功|失败|部署完|编译完)(了)?(吗|没|没有)\s*[?？]?\s*$|还在跑|我(现在|当前)?在哪个分支|当前(在|是)哪个分支",
    re.IGNORECASE,
)
_LIVE_MAX_CHARS = 80
# A question of general knowledge: what a thing is, how two differ, a tool's latest release. Nothing of
# the project's is named, so nothing stored bears on it.
_GENERAL_QUESTION = re.compile(
    r"\bdifference between\b|^\s*(what|whats|what's|what is) (a|an) \w"
    r"|^\s*(what|whats|what's|what is) the (latest|newest|current) (stable )?(version|release) of\b"
    r"|^\s*(what does|what do) \S+( \S+)? (stand for|mean)\b"
    r"|^\s*什么是|有什么区别|区别是什么|到底是(什么|啥)|是什么意思|是干什么的|是干嘛的",
    re.IGNORECASE,
)
_OURS = re.compile(
    r"\b(we|we're|our|ours|us|my|i|the team|this project|the project|this repo|our repo|you)\b"
    r"|我们|咱们|项目|团队|我的",
    re.IGNORECASE,
)
# An order to edit code, in Chinese: 把 X 改成 Y, naming an identifier.
_EDIT_ZH = re.compile(
    r"^\s*(请|帮我|帮忙|麻烦你?)?(把|将)[^。？?]{1,40}(改成|改为|换成|重命名|删掉|去掉|加上|格式化|重构|拆成|移到)"
)
_IDENTIFIER = re.compile(r"\b[a-z]+[A-Z]\w*|\b[a-z]\w*_\w+|`[^`]+`|\b[\w/-]+\.[a-z]{1,4}\b|\w+\(\)")
_SLASH_COMMAND = re.compile(r"^/[a-z][\w-]*(\s.*)?$", re.DOTALL)


def _acknowledgement(text: str) -> bool:
    if len(text) > _ACK_MAX_CHARS:
        return False
    lowered = text.strip().casefold()
    if lowered in _ACK_WORDS:
        return True
    parts = [part for part in _ACK_SPLIT.split(lowered) if part]
    if not parts:
        return True  # punctuation and emoji only
    # "great, thanks!", "好的，谢谢", "ok thank you": every piece is an acknowledgement (or a filler beside one)
    parts = [part.rstrip(_ZH_PARTICLES) or part for part in parts]
    acknowledged = False
    i = 0
    while i < len(parts):
        for width in (3, 2, 1):
            phrase = " ".join(parts[i : i + width])
            if phrase in _ACK_WORDS:
                acknowledged = True
                i += width
                break
        else:
            if parts[i] not in _ACK_FILLERS:
                return False
            i += 1
    return acknowledged


def asks_about_the_past(text: str) -> bool:
    return bool(_RECALL_EN.search(text) or _RECALL_ZH.search(text))


def says_to_keep(text: str) -> bool:
    """It tells the agent to keep something, or states a standing rule ("never deploy on Fridays")."""
    if _REMEMBER_EN.search(text) or _REMEMBER_ZH.search(text):
        return True
    return any(_STANDING_RULE.search(sentence) for sentence in statements(text))


def keeps_something(text: str, signal: signals.Signal | None) -> bool:
    """It says to keep something, or its shape (an explicit label) is a save by rule."""
    return says_to_keep(text) or (signal is not None and signal.decision == "SAVE")


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCES.split(text.strip()) if part.strip()]


def statements(text: str) -> list[str]:
    """The sentences that are not questions."""
    return [sentence for sentence in sentences(text) if not _QUESTION.search(sentence)]


def contradicts(text: str) -> bool:
    """It opens by saying no ("no, …", "actually", 不对) and goes on to a statement, not an order."""
    opened = _CONTRADICTS.match(text)
    if opened is None:
        return False
    rest = text[opened.end() :].strip()
    return not (_NOT_A_STATEMENT.match(rest) or _ORDER.match(rest))


def redirects(text: str) -> bool:
    """A short "no" and an order: it steers the work at hand ("no, use the other config file")."""
    opened = _CONTRADICTS.match(text)
    if opened is None or len(text) > _EDIT_MAX_CHARS or _QUESTION.search(text):
        return False
    return bool(_ORDER.match(text[opened.end() :].strip()))


def says_what_changed(text: str) -> bool:
    """It says something the agent may hold is wrong or has changed (not only what is true)."""
    return bool(contradicts(text) or _CHANGE.search(text) or corrects(text))


def changes_in_a_statement(text: str) -> bool:
    """Beside what it asks, a sentence says what changed or adds to it ("…? add one more: …")."""
    return any(contradicts(s) or _CHANGE.search(s) for s in statements(text))


def asks_general_knowledge(text: str) -> bool:
    """A question of what a thing is or how two differ, naming nothing of the project's or the user's."""
    return bool(_GENERAL_QUESTION.search(text)) and not _OURS.search(text)


def asks_about_the_session(text: str) -> bool:
    """A short question about the live session: the branch, a running process, the last run."""
    return len(text) <= _LIVE_MAX_CHARS and bool(_LIVE_STATE.search(text))


def asks_how_things_stand(text: str) -> bool:
    """A question about the project's present state (what we use, who owns it, is it still so), not about
    the code at hand and not a request ("can you ...")."""
    if _AT_HAND.search(text):
        return False
    if _OWNER_QUESTION.search(text):
        return True
    ends_as_statement = text.rstrip().endswith((".", "。", "!", "！"))
    if _QUESTION.search(text) is None and ends_as_statement:
        return False
    if _ADVICE.search(text):
        return False
    if _STATE_QUESTION_EN.search(text) and _STATE_NOW_EN.search(text):
        return True
    return bool(_HAN.search(text) and _STATE_QUESTION_ZH.search(text) and _STATE_NOW_ZH.search(text))


def is_one_question(text: str) -> bool:
    """One interrogative sentence and nothing before it: "What's the timeout on the client?"."""
    return len(sentences(text)) == 1 and bool(_QUESTION.search(text.strip()[-1:]))


def points_at_code_at_hand(text: str) -> bool:
    """It asks about, or for something done to, the code, file or output in front of the agent ("what does
    this function return?", "can you make this loop faster?"). A statement that mentions them may be a lesson."""
    if len(text) > _EDIT_MAX_CHARS or not _CODE_AT_HAND.search(text):
        return False
    return bool(_QUESTION.search(text) or _REQUEST.match(text))


def corrects(text: str) -> bool:
    """It says something the agent may hold is wrong or has changed, and what is true now."""
    if _NOT_X_BUT_Y_ZH.search(text) or (_CHANGED.search(text) and not _AT_HAND.search(text)):
        return True
    opened = _CORRECTION_OPEN_EN.match(text) or _CORRECTION_OPEN_ZH.match(text)
    if opened is None:
        return False
    rest = text[opened.end() :].strip()
    if not rest or _NOT_A_STATEMENT.match(rest) or _acknowledgement(rest) or _AT_HAND.search(rest):
        return False
    if _QUESTION.search(rest):
        return False
    return bool(_NAMED_VALUE.search(" " + rest))


def starts_project_work(text: str) -> bool:
    """An order to deploy, migrate, upgrade, set up or debug something of the project's (not the code at hand)."""
    if _AT_HAND.search(text) or _QUESTION.search(text) or len(text) > _EDIT_MAX_CHARS:
        return False
    return bool(_TASK_EN.search(text) or _TASK_ZH.search(text))


def rule(text: str) -> IntentRule | None:
    """The certain intent of a message from its shape, or None when the shape leaves it open."""
    stripped = text.strip()
    if not stripped:
        return IntentRule("NONE", "empty message")
    if _SLASH_COMMAND.match(stripped) and "\n" not in stripped:
        return IntentRule("NONE", "a client command")
    if _acknowledgement(stripped):
        return IntentRule("NONE", "an acknowledgement")
    asks = asks_about_the_past(stripped)
    signal = signals.classify(stripped)
    if signal is not None and signal.decision == "SKIP":
        return IntentRule("NONE", f"bare {signal.category} ({signal.rule})")
    keeps = keeps_something(stripped, signal)
    if asks and keeps:
        return IntentRule("BOTH", "it says something to keep and asks about what was decided before")
    if corrects(stripped):
        return IntentRule("BOTH", "it corrects what may be stored: says what is true now")
    if keeps and says_what_changed(stripped):
        return IntentRule("BOTH", "it says to keep something that changes what may be stored")
    state_question = not keeps and asks_how_things_stand(stripped)
    if (asks or state_question) and changes_in_a_statement(stripped):
        return IntentRule("BOTH", "it refers to what was stored and says what changed")
    if asks:
        return IntentRule("RECALL", "it asks about something decided or learned before")
    if not keeps and redirects(stripped):
        return IntentRule("NONE", 'it redirects what the agent is doing ("no, use the other one")')
    if not keeps and asks_general_knowledge(stripped):
        return IntentRule("NONE", "a question of general knowledge: nothing of the project's is named")
    if not keeps and asks_about_the_session(stripped):
        return IntentRule("NONE", "it asks about the live session (branch, process, last run), not memory")
    if state_question:
        return IntentRule("RECALL", "it asks how things stand in the project now")
    if not keeps and len(stripped) <= _EDIT_MAX_CHARS and _EDIT_VERB.search(stripped) and _HERE.search(stripped):
        return IntentRule("NONE", "an instruction about the code at hand")
    if not keeps and _EDIT_ZH.search(stripped) and (_IDENTIFIER.search(stripped) or _HERE.search(stripped)):
        return IntentRule("NONE", "an instruction about the code at hand")
    if not keeps and points_at_code_at_hand(stripped):
        return IntentRule("NONE", "it is about the code in front of the agent")
    if not keeps and starts_project_work(stripped):
        return IntentRule("RECALL", "it starts project work (deploy, migrate, set up, debug) that lessons bear on")
    if keeps and _QUESTION.search(stripped):
        return None  # something to keep and a question about the present: the model tells BOTH from REMEMBER
    if keeps:
        why = signal.rule if signal is not None else "it tells the agent to keep it from now on"
        return IntentRule("REMEMBER", why)
    return None


@dataclass(frozen=True)
class Shape:
    """What a message's form says even when it does not settle the intent."""

    keeps: bool = False
    """It tells the agent to keep something (so REMEMBER or BOTH; only whether it also asks is open)."""
    question: bool = False
    """It is one question and nothing else (so it asks; it states nothing to keep)."""
    both: bool = True
    """It may both keep and recall: it says something changed or was wrong, or states as well as asks.
    Where it does neither, a model's reading of a correction is a statement's."""


def shape(text: str) -> Shape:
    stripped = text.strip()
    signal = signals.classify(stripped)
    keeps = keeps_something(stripped, signal)
    question = is_one_question(stripped)
    states_and_asks = bool(_QUESTION.search(stripped)) and bool(statements(stripped)) and not question
    both = not question and (says_what_changed(stripped) or states_and_asks)
    return Shape(keeps=keeps, question=question, both=both)
