"""Text material of the synthetic corpus (:func:`rbic_fast.synthetic.write_corpus`): domains, subtopics, templates.

Templates mark slots as ``«name»`` so that LaTeX braces need no escaping; :func:`compile_template` turns them into
``str.format`` strings once. Slots every template may use (values drawn per use): ``a b c`` (2..99), ``A B``
(100..999), ``x y`` (2..12), ``s = a+b``, ``d = |a-b|``, ``p = a·b``, ``q = a/b`` (2 decimals), ``xy = x·y``,
``r`` (a 1-decimal number), ``name name2 item`` (language-specific words). ``Q`` is the record's question and
``ans`` its answer (opening and concluding segments only).

The English and Chinese phrasing follows DeepSeek-R1 traces (the R1 MMLU-Pro and Chinese R1-Distill sets): an
opening that restates the question, working paragraphs, verification ("Let me check", 验证), backtracking ("Wait",
等等，不对), exploration ("Alternatively", 或者换个思路) and a concluding sentence; the answer after ``</think>`` is a
short numbered solution ending in ``\\boxed{}``.
"""

from __future__ import annotations

import re

_SLOT = re.compile(r"«(\w+)»")


def compile_template(text: str) -> str:
    """``«a»`` slots → a ``str.format`` template (literal braces doubled)."""
    return _SLOT.sub(r"{\1}", text.replace("{", "{{").replace("}", "}}"))


NAMES = {
    "en": ("Alice", "Bob", "Carla", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "James", "Kofi", "Lena",
           "Maria", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tom"),
    "zh": ("小明", "小红", "小刚", "小丽", "小华", "张老师", "李阿姨", "王叔叔", "小芳", "小军", "刘师傅", "陈同学",
           "赵老师", "小林", "小杨", "周阿姨"),
}
ITEMS = {
    "en": ("apples", "pencils", "notebooks", "marbles", "cookies", "stickers", "books", "tickets", "oranges",
           "cupcakes", "shirts", "batteries"),
    "zh": ("苹果", "铅笔", "笔记本", "玻璃球", "饼干", "贴纸", "图书", "电影票", "橘子", "蛋糕", "衬衫", "电池"),
}

# ---------------------------------------------------------------------------------------------------------------
# generic segments (every domain), per language
# ---------------------------------------------------------------------------------------------------------------

OPEN = {
    "en": (
        "Okay, let's see. The problem says: «Q»",
        "Alright, so I need to solve this problem: «Q»",
        "Let me try to figure out this problem. «Q»",
        "Okay, so the question is asking: «Q» Let me think about how to approach this.",
        "Hmm, let's start by understanding the problem. «Q»",
        "We are asked: \"«Q»\" Let me work through it carefully.",
    ),
    "zh": (
        "嗯，我现在要解决这个问题：«Q» 让我仔细想一想。",
        "好的，我来看一下这道题。题目是：«Q»",
        "首先，我需要理解题目的意思。题目说：«Q»",
        "嗯，这道题是这样的：«Q» 我得先理清思路。",
        "好，我现在要做这道题：«Q» 先把已知条件整理一下。",
    ),
}
LEAD = {  # optional openers of a working paragraph
    "en": ("", "", "", "First, ", "Next, ", "Then ", "So ", "Now, ", "Therefore, ", "Since that holds, ",
           "This means ", "After that, "),
    "zh": ("", "", "", "首先，", "接下来，", "然后，", "所以", "因此，", "于是", "由此可得，", "也就是说，", "接着，"),
}
VERIFY = {
    "en": (
        "Let me check this again: «a» + «b» = «s», which matches.",
        "Let me verify the multiplication: «a» × «b» = «p». Yes, that's right.",
        "Let me double-check by substituting back. Both sides give «s», so it is consistent.",
        "To make sure, I'll plug back in: with «x» and «y» the product is «xy», as required.",
        "Sanity check: «A» is close to «B», so an answer of about «s» is plausible.",
        "Does that make sense? Let me confirm the units: everything is consistent.",
        "Let me check by doing the reverse: «p» ÷ «b» = «a». Correct.",
        "Is this correct? Working backward from «s» gives «a» and «b» again, so yes.",
    ),
    "zh": (
        "验证一下：«a» + «b» = «s»，没错。",
        "再检查一下计算：«a» × «b» = «p»，是对的。",
        "代入检验：两边都等于«s»，所以是正确的。",
        "让我核对一下……«a»加«b»确实是«s»。",
        "确认一下单位，也没错。",
        "验算：«p» ÷ «b» = «a»，结果一致。",
        "看看是否满足条件：«x»乘«y»等于«xy»，满足。",
    ),
}
BACKTRACK = {
    "en": (
        "Wait, that's not right. ",
        "Hmm, wait. I think I made a mistake here. ",
        "Wait, actually, let me go back. ",
        "Hold on, I need to redo this step. ",
        "But wait, the problem says something slightly different. ",
        "Hmm, scratch that. ",
        "Actually, on second thought, ",
        "Wait, that doesn't work. Let me rethink. ",
    ),
    "zh": (
        "等等，不对。",
        "嗯，好像哪里出错了。",
        "不对，刚才算错了，重新算一下。",
        "等一下，我再想想。",
        "哦，我搞错了，回过头再看题目。",
        "嗯，看来不对，再考虑一下。",
    ),
}
EXPLORE = {
    "en": (
        "Alternatively, maybe I can approach this differently. ",
        "Another approach: ",
        "What if we consider it from the other side? ",
        "Perhaps it is easier to work from the other end. ",
        "Let's try assuming the simplest case first. ",
        "Maybe there's another way. ",
        "Suppose instead we start from what the answer must satisfy. ",
    ),
    "zh": (
        "或者换个思路。",
        "另一种方法是：",
        "不妨假设一下，",
        "也许可以尝试这样：",
        "如果换一种方法来看，",
        "试试另一种思路，",
    ),
}
CONCLUDE = {
    "en": (
        "So the answer should be «ans».",
        "Therefore, the final answer is «ans».",
        "So, putting it all together, the answer is «ans».",
        "Thus the answer is «ans». I think that's it.",
    ),
    "zh": (
        "所以答案是«ans»。",
        "综上所述，最终答案是«ans»。",
        "因此，结果是«ans»。",
        "所以最后的答案应该是«ans»。",
    ),
}
RESPONSE_HEAD = {
    "en": ("To solve the problem:", "**Solution**", "Here is the step-by-step solution:", "We proceed as follows."),
    "zh": ("**解答**", "解题步骤如下：", "解：", "我们按以下步骤求解："),
}
RESPONSE_TAIL = {
    "en": ("Therefore, the answer is $\\boxed{«ans»}$.", "**Final answer:** $\\boxed{«ans»}$",
           "The answer is $\\boxed{«ans»}$."),
    "zh": ("因此，答案为 $\\boxed{«ans»}$。", "**最终答案**：$\\boxed{«ans»}$", "答案是 $\\boxed{«ans»}$。"),
}

# ---------------------------------------------------------------------------------------------------------------
# domains: (key, coarse source, answer templates, {subtopic: {lang: question templates}}, {lang: working steps})
# ---------------------------------------------------------------------------------------------------------------

DOMAINS: tuple[dict, ...] = (
    {
        "key": "arithmetic",
        "source": "math",
        "answers": ("«s»", "«p»", "«A»", "«d»"),
        "subtopics": {
            "shopping": {
                "en": ("«name» buys «a» «item» at $«x» each and pays with a $«A» bill. How much change does «name» get?",
                       "A store sells «item» in packs of «x». «name» needs «A» «item». How many packs must «name» buy?"),
                "zh": ("«name»买了«a»个«item»，每个«x»元，付了«A»元，应找回多少元？",
                       "商店里«item»每包«x»个，«name»需要«A»个«item»，至少要买多少包？"),
            },
            "rates": {
                "en": ("A train travels «A» km in «x» hours. At the same speed, how far does it go in «y» hours?",
                       "«name» can paint a fence in «x» hours and «name2» in «y» hours. How long do they take together?"),
                "zh": ("一列火车«x»小时行驶«A»千米，照这样的速度，«y»小时行驶多少千米？",
                       "一项工程，甲单独做«x»天完成，乙单独做«y»天完成，两人合作几天完成？"),
            },
            "percent": {
                "en": ("A jacket costs $«A». It is discounted by «a»% and then taxed at «x»%. What is the final price?",
                       "«name» scored «a» out of «A» points. What percentage is that, to the nearest whole number?"),
                "zh": ("一件衣服原价«A»元，打«x»折后又便宜了«a»元，现价多少元？",
                       "某校有学生«A»人，其中«a»%是女生，女生有多少人？"),
            },
            "ages": {
                "en": ("«name» is «a» years old. In «x» years «name» will be twice as old as «name2» is now. How old is «name2»?",
                       "The sum of the ages of «name» and «name2» is «s». «name» is «d» years older. How old is «name»?"),
                "zh": ("«name»今年«a»岁，«x»年后«name»的年龄是«name2»现在年龄的2倍，«name2»今年几岁？",
                       "父子两人年龄和是«s»岁，父亲比儿子大«d»岁，父亲今年多少岁？"),
            },
        },
        "steps": {
            "en": (
                "«name» starts with «a» «item» and gets «b» more, so the total is «a» + «b» = «s».",
                "Each pack holds «x» «item», so «y» packs hold «x» × «y» = «xy» «item».",
                "The cost is «a» × «b» = «p» dollars, and the change is what remains of the payment.",
                "Let me compute the difference: «a» - «b» = «d».",
                "Dividing the total by the group size: «a» ÷ «b» ≈ «q».",
                "The rate is «A» km per «x» hours, i.e. «A»/«x» km per hour, and I multiply by the new time.",
                "A discount of «a»% leaves (100 - «a»)% of the price, so I multiply «A» by that fraction.",
                "Working together, their combined rate is 1/«x» + 1/«y» of the job per hour.",
                "So after «x» weeks, «name» has saved «x» × «b» = «x»·«b» dollars in total.",
            ),
            "zh": (
                "«name»原来有«a»个«item»，又得到«b»个，一共是«a» + «b» = «s»个。",
                "每包«x»个，«y»包就是«x» × «y» = «xy»个。",
                "总价是«a» × «b» = «p»元，再用付的钱减去总价就是找回的钱。",
                "两数相差«a» - «b» = «d»。",
                "平均每份是«a» ÷ «b» ≈ «q»。",
                "速度是每小时«A»/«x»千米，再乘以时间就是路程。",
                "甲的工作效率是1/«x»，乙的工作效率是1/«y»，合作的效率是两者之和。",
            ),
        },
    },
    {
        "key": "algebra",
        "source": "math",
        "answers": ("«x»", "x = «x»", "\\frac{«a»}{«b»}", "«d»", "x = «x», y = «y»"),
        "subtopics": {
            "linear": {
                "en": ("Solve for $x$: $«a»x + «b» = «c»x + «A»$.",
                       "If $«x»(x - «a») = «y»x + «b»$, what is the value of $x$?"),
                "zh": ("解方程：$«a»x + «b» = «c»x + «A»$。",
                       "已知$«x»(x - «a») = «y»x + «b»$，求$x$的值。"),
            },
            "quadratic": {
                "en": ("Find all real roots of $x^2 - «s»x + «p» = 0$.",
                       "For which values of $k$ does $x^2 + kx + «p» = 0$ have a double root?"),
                "zh": ("求方程$x^2 - «s»x + «p» = 0$的所有实数根。",
                       "当$k$为何值时，方程$x^2 + kx + «p» = 0$有两个相等的实数根？"),
            },
            "systems": {
                "en": ("Solve the system $x + y = «s»$, $x - y = «d»$.",
                       "The sum of two numbers is «s» and their difference is «d». Find the numbers."),
                "zh": ("解方程组：$x + y = «s»$，$x - y = «d»$。",
                       "两个数的和是«s»，差是«d»，求这两个数。"),
            },
            "functions": {
                "en": ("Let $f(x) = «a»x^2 - «b»x + «c»$. Find the minimum value of $f$ and where it is attained.",
                       "If $f(x) = «x»x + «a»$ and $g(x) = x^2 - «y»$, compute $f(g(«x»))$."),
                "zh": ("设$f(x) = «a»x^2 - «b»x + «c»$，求$f(x)$的最小值及取得最小值时$x$的值。",
                       "已知$f(x) = «x»x + «a»$，$g(x) = x^2 - «y»$，求$f(g(«x»))$。"),
            },
        },
        "steps": {
            "en": (
                "Moving the $x$ terms to one side: $«a»x - «c»x = «A» - «b»$, so $(«a» - «c»)x = «A» - «b»$.",
                "By Vieta's formulas the roots satisfy $x_1 + x_2 = «s»$ and $x_1 x_2 = «p»$.",
                "Factoring, $x^2 - «s»x + «p» = (x - «a»)(x - «b»)$, so $x = «a»$ or $x = «b»$.",
                "Adding the two equations eliminates $y$: $2x = «s» + «d»$.",
                "The discriminant is $\\Delta = b^2 - 4ac = «s»^2 - 4 \\cdot «p»$, which must be zero for a double root.",
                "Completing the square: $f(x) = «a»\\left(x - \\frac{«b»}{2 \\cdot «a»}\\right)^2 + C$.",
                "Substituting $x = «x»$ gives $«x»^2 - «y» = «xy» - «y»$.",
                "So $x = \\frac{«A» - «b»}{«a» - «c»}$, which simplifies to «q».",
                "Let me expand the left side: $«x»x - «x» \\cdot «a»$, and collect like terms.",
                "Since the coefficient of $x^2$ is positive, the parabola opens upward and the vertex is the minimum.",
            ),
            "zh": (
                "移项得：$«a»x - «c»x = «A» - «b»$，即$(«a» - «c»)x = «A» - «b»$。",
                "由韦达定理，$x_1 + x_2 = «s»$，$x_1 x_2 = «p»$。",
                "因式分解得$(x - «a»)(x - «b») = 0$，所以$x = «a»$或$x = «b»$。",
                "两式相加消去$y$，得$2x = «s» + «d»$。",
                "判别式$\\Delta = «s»^2 - 4 \\times «p»$，有两个相等实根时$\\Delta = 0$。",
                "配方得$f(x) = «a»\\left(x - \\frac{«b»}{2 \\times «a»}\\right)^2 + C$。",
                "把$x = «x»$代入，得到$«x»^2 - «y» = «xy» - «y»$。",
            ),
        },
    },
    {
        "key": "geometry",
        "source": "math",
        "answers": ("«p»", "«s»\\pi", "\\sqrt{«s»}", "«q»", "«A»"),
        "subtopics": {
            "triangles": {
                "en": ("A right triangle has legs «a» and «b». Find the length of the hypotenuse.",
                       "In triangle $ABC$, $AB = «a»$, $AC = «b»$ and $\\angle A = 60^\\circ$. Find $BC$."),
                "zh": ("直角三角形的两条直角边分别是«a»和«b»，求斜边的长。",
                       "在$\\triangle ABC$中，$AB = «a»$，$AC = «b»$，$\\angle A = 60^\\circ$，求$BC$。"),
            },
            "circles": {
                "en": ("A circle has radius «x». Find the area of a sector with central angle «a» degrees.",
                       "Two chords of a circle intersect; the segments of one are «x» and «y». One segment of the other is «a». Find the last segment."),
                "zh": ("一个圆的半径是«x»厘米，圆心角为«a»度的扇形面积是多少？",
                       "圆的两条弦相交，一条弦被分成«x»和«y»两段，另一条弦的一段是«a»，求另一段。"),
            },
            "solids": {
                "en": ("A cylinder has radius «x» cm and height «a» cm. What is its volume?",
                       "A rectangular box measures «x» by «y» by «a». Find the length of its space diagonal."),
                "zh": ("一个圆柱的底面半径是«x»厘米，高是«a»厘米，它的体积是多少？",
                       "一个长方体的长、宽、高分别是«x»、«y»、«a»，求它的体对角线长。"),
            },
            "coordinates": {
                "en": ("Find the distance between the points $(«x», «a»)$ and $(«y», «b»)$.",
                       "Find the equation of the line through $(«x», «a»)$ perpendicular to $y = «y»x + «b»$."),
                "zh": ("求点$(«x», «a»)$与点$(«y», «b»)$之间的距离。",
                       "求过点$(«x», «a»)$且与直线$y = «y»x + «b»$垂直的直线方程。"),
            },
        },
        "steps": {
            "en": (
                "By the Pythagorean theorem, $c^2 = «a»^2 + «b»^2$.",
                "The law of cosines gives $BC^2 = AB^2 + AC^2 - 2 \\cdot AB \\cdot AC \\cos A$.",
                "The sector area is $\\frac{«a»}{360} \\pi r^2$ with $r = «x»$.",
                "The volume of a cylinder is $V = \\pi r^2 h = \\pi \\cdot «x»^2 \\cdot «a»$.",
                "By the intersecting chords theorem, $«x» \\cdot «y» = «a» \\cdot t$, so $t = \\frac{«xy»}{«a»}$.",
                "The distance formula gives $\\sqrt{(«x» - «y»)^2 + («a» - «b»)^2}$.",
                "A perpendicular line has slope $-\\frac{1}{«y»}$, the negative reciprocal.",
                "Drawing the altitude from $A$ splits the triangle into two right triangles.",
                "The space diagonal is $\\sqrt{«x»^2 + «y»^2 + «a»^2}$.",
                "The angles of a triangle sum to $180^\\circ$, so the remaining angle is $180^\\circ - «a»^\\circ - «b»^\\circ$.",
            ),
            "zh": (
                "由勾股定理，$c^2 = «a»^2 + «b»^2$。",
                "由余弦定理，$BC^2 = AB^2 + AC^2 - 2 \\cdot AB \\cdot AC \\cos A$。",
                "扇形面积$S = \\frac{«a»}{360} \\pi r^2$，其中$r = «x»$。",
                "圆柱体积$V = \\pi r^2 h = \\pi \\times «x»^2 \\times «a»$。",
                "由相交弦定理，$«x» \\times «y» = «a» \\times t$，所以$t = \\frac{«xy»}{«a»}$。",
                "由两点间距离公式，$d = \\sqrt{(«x» - «y»)^2 + («a» - «b»)^2}$。",
                "过点$A$作高，把三角形分成两个直角三角形。",
            ),
        },
    },
    {
        "key": "probability",
        "source": "math",
        "answers": ("\\frac{«x»}{«A»}", "\\frac{1}{«xy»}", "«q»", "\\binom{«a»}{«x»}", "\\frac{«a»}{«s»}"),
        "subtopics": {
            "counting": {
                "en": ("In how many ways can «x» students be chosen from a class of «a» to form a committee?",
                       "How many «x»-letter strings can be formed from the letters of a «y»-letter alphabet with no letter repeated?"),
                "zh": ("从«a»名同学中选出«x»名组成委员会，共有多少种选法？",
                       "用«y»个不同的字母组成没有重复字母的«x»位字符串，共有多少种？"),
            },
            "dice_coins": {
                "en": ("Two fair dice are rolled. What is the probability that the sum is «x»?",
                       "A fair coin is flipped «x» times. What is the probability of getting exactly «y» heads?"),
                "zh": ("同时掷两枚均匀的骰子，点数之和为«x»的概率是多少？",
                       "把一枚均匀硬币抛«x»次，恰好出现«y»次正面的概率是多少？"),
            },
            "conditional": {
                "en": ("A test is «a»% accurate and the disease affects «x»% of people. Given a positive test, what is the probability of having the disease?",
                       "A bag has «a» red and «b» blue balls. Two are drawn without replacement. Given the first is red, find the probability the second is red."),
                "zh": ("某检测的准确率为«a»%，人群患病率为«x»%，已知检测结果为阳性，求真正患病的概率。",
                       "袋中有«a»个红球和«b»个蓝球，不放回地取两次，已知第一次取到红球，求第二次也是红球的概率。"),
            },
            "expectation": {
                "en": ("A game pays $«a» with probability 1/«x» and costs $«b» otherwise. What is the expected value?",
                       "What is the expected number of rolls of a fair die until a «x» appears?"),
                "zh": ("某游戏以1/«x»的概率赢«a»元，否则输«b»元，求期望收益。",
                       "掷一枚均匀骰子，直到出现«x»点为止，求投掷次数的数学期望。"),
            },
        },
        "steps": {
            "en": (
                "The number of ways to choose is $\\binom{«a»}{«x»} = \\frac{«a»!}{«x»!(«a» - «x»)!}$.",
                "There are $6 \\times 6 = 36$ equally likely outcomes, and I count the favourable ones.",
                "By Bayes' theorem, $P(D \\mid +) = \\frac{P(+ \\mid D) P(D)}{P(+)}$.",
                "The total probability of a positive result is $P(+) = P(+ \\mid D)P(D) + P(+ \\mid \\neg D)P(\\neg D)$.",
                "After removing one red ball there are «a» - 1 red balls among «s» - 1, so the probability is $\\frac{«a» - 1}{«s» - 1}$.",
                "By linearity of expectation, $E[X] = «a» \\cdot \\frac{1}{«x»} - «b» \\cdot \\frac{«x» - 1}{«x»}$.",
                "The binomial probability is $\\binom{«x»}{«y»} \\left(\\frac{1}{2}\\right)^{«x»}$.",
                "This is a geometric distribution with success probability $p = \\frac{1}{6}$, so $E = \\frac{1}{p}$.",
                "Order does not matter here, so I divide by $«x»!$ to remove the arrangements.",
            ),
            "zh": (
                "选法数为$\\binom{«a»}{«x»} = \\frac{«a»!}{«x»!(«a» - «x»)!}$。",
                "两枚骰子共有$6 \\times 6 = 36$种等可能的结果，数一下满足条件的情况。",
                "由贝叶斯公式，$P(D \\mid +) = \\frac{P(+ \\mid D) P(D)}{P(+)}$。",
                "由全概率公式，$P(+) = P(+ \\mid D)P(D) + P(+ \\mid \\bar D)P(\\bar D)$。",
                "由期望的线性性，$E[X] = «a» \\times \\frac{1}{«x»} - «b» \\times \\frac{«x» - 1}{«x»}$。",
                "这是几何分布，成功概率$p = \\frac{1}{6}$，所以期望是$\\frac{1}{p}$。",
                "这里与顺序无关，所以要除以$«x»!$。",
            ),
        },
    },
    {
        "key": "number_theory",
        "source": "math",
        "answers": ("«x»", "«a»", "«A»", "«y»", "«b»"),
        "subtopics": {
            "divisibility": {
                "en": ("Find the greatest common divisor of «A» and «B».",
                       "What is the least common multiple of «a», «b» and «x»?"),
                "zh": ("求«A»和«B»的最大公约数。", "求«a»、«b»和«x»的最小公倍数。"),
            },
            "modular": {
                "en": ("What is the remainder when $«x»^{«A»}$ is divided by «b»?",
                       "Find the smallest positive integer $n$ such that $«a»n \\equiv «x» \\pmod{«b»}$."),
                "zh": ("求$«x»^{«A»}$除以«b»的余数。", "求满足$«a»n \\equiv «x» \\pmod{«b»}$的最小正整数$n$。"),
            },
            "primes": {
                "en": ("How many prime numbers are there between «a» and «A»?",
                       "Find the prime factorization of «B» and the number of its positive divisors."),
                "zh": ("«a»到«A»之间有多少个质数？", "将«B»分解质因数，并求它的正因数个数。"),
            },
            "digits": {
                "en": ("What is the sum of the digits of $«x»^{«y»}$?",
                       "How many «x»-digit positive integers have digits that sum to «a»?"),
                "zh": ("求$«x»^{«y»}$的各位数字之和。", "各位数字之和为«a»的«x»位正整数有多少个？"),
            },
        },
        "steps": {
            "en": (
                "By the Euclidean algorithm, $\\gcd(«A», «B») = \\gcd(«B», «A» \\bmod «B»)$.",
                "The powers of «x» modulo «b» repeat with some period, so I look for the cycle.",
                "By Fermat's little theorem, $a^{p-1} \\equiv 1 \\pmod{p}$ when $p$ is prime and $p \\nmid a$.",
                "Since «a» and «b» are coprime, «a» has an inverse modulo «b».",
                "Factoring, «B» = $2^{«x»} \\cdot 3^{«y»} \\cdot k$, and the divisor count is $(«x» + 1)(«y» + 1) \\cdots$.",
                "The primes below 100 are 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, and so on.",
                "$\\mathrm{lcm}(a, b) = \\frac{ab}{\\gcd(a, b)} = \\frac{«p»}{\\gcd(«a», «b»)}$.",
                "A number is divisible by 9 exactly when its digit sum is divisible by 9.",
                "Writing $«A» = «x» q + r$ with $0 \\le r < «x»$ gives the remainder $r$.",
            ),
            "zh": (
                "用辗转相除法：$\\gcd(«A», «B») = \\gcd(«B», «A» \\bmod «B»)$。",
                "«x»的幂对«b»取余是周期性的，先找出周期。",
                "由费马小定理，当$p$为质数且$p \\nmid a$时，$a^{p-1} \\equiv 1 \\pmod{p}$。",
                "因为«a»和«b»互质，所以«a»在模«b»下有逆元。",
                "分解质因数得«B» = $2^{«x»} \\times 3^{«y»} \\times k$。",
                "$\\mathrm{lcm}(a, b) = \\frac{ab}{\\gcd(a, b)} = \\frac{«p»}{\\gcd(«a», «b»)}$。",
                "一个数能被9整除，当且仅当它的各位数字之和能被9整除。",
            ),
        },
    },
    {
        "key": "calculus",
        "source": "math",
        "answers": ("«x»", "\\frac{«a»}{«b»}", "«s»", "e^{«x»}", "\\ln «x»"),
        "subtopics": {
            "derivatives": {
                "en": ("Find $f'(x)$ for $f(x) = x^{«x»} \\sin(«a»x)$.",
                       "Find the slope of the tangent line to $y = «a»x^3 - «b»x$ at $x = «x»$."),
                "zh": ("求$f(x) = x^{«x»} \\sin(«a»x)$的导数。", "求曲线$y = «a»x^3 - «b»x$在$x = «x»$处的切线斜率。"),
            },
            "integrals": {
                "en": ("Evaluate $\\int_0^{«x»} («a»x^2 + «b») \\, dx$.",
                       "Compute $\\int x e^{«x»x} \\, dx$."),
                "zh": ("计算定积分$\\int_0^{«x»} («a»x^2 + «b») \\, dx$。", "求不定积分$\\int x e^{«x»x} \\, dx$。"),
            },
            "limits": {
                "en": ("Evaluate $\\lim_{x \\to 0} \\frac{\\sin(«a»x)}{«b»x}$.",
                       "Find $\\lim_{n \\to \\infty} \\left(1 + \\frac{«x»}{n}\\right)^n$."),
                "zh": ("求极限$\\lim_{x \\to 0} \\frac{\\sin(«a»x)}{«b»x}$。", "求$\\lim_{n \\to \\infty} \\left(1 + \\frac{«x»}{n}\\right)^n$。"),
            },
            "optimization": {
                "en": ("A rectangle has perimeter «A». What is its maximum possible area?",
                       "Find the maximum of $f(x) = «a»x - x^2$ on $[0, «b»]$."),
                "zh": ("周长为«A»的矩形，面积最大是多少？", "求$f(x) = «a»x - x^2$在$[0, «b»]$上的最大值。"),
            },
        },
        "steps": {
            "en": (
                "By the product rule, $f'(x) = «x» x^{«x» - 1} \\sin(«a»x) + «a» x^{«x»} \\cos(«a»x)$.",
                "The derivative is $y' = 3 \\cdot «a» x^2 - «b»$, and at $x = «x»$ this is the slope.",
                "Integrating term by term: $\\int_0^{«x»} «a»x^2 \\, dx = \\frac{«a»}{3} «x»^3$.",
                "Integration by parts with $u = x$, $dv = e^{«x»x} dx$ gives $\\frac{x}{«x»} e^{«x»x} - \\int \\frac{1}{«x»} e^{«x»x} dx$.",
                "Using $\\lim_{t \\to 0} \\frac{\\sin t}{t} = 1$, the limit is $\\frac{«a»}{«b»}$.",
                "This is the definition of $e^{«x»}$ as a limit.",
                "Setting the derivative to zero: $«a» - 2x = 0$, so $x = \\frac{«a»}{2}$.",
                "The second derivative is negative, so this critical point is a maximum.",
                "For a fixed perimeter the square maximises the area, with side $\\frac{«A»}{4}$.",
            ),
            "zh": (
                "由乘积法则，$f'(x) = «x» x^{«x» - 1} \\sin(«a»x) + «a» x^{«x»} \\cos(«a»x)$。",
                "求导得$y' = 3 \\times «a» x^2 - «b»$，代入$x = «x»$即得斜率。",
                "逐项积分：$\\int_0^{«x»} «a»x^2 \\, dx = \\frac{«a»}{3} «x»^3$。",
                "用分部积分，令$u = x$，$dv = e^{«x»x} dx$。",
                "利用重要极限$\\lim_{t \\to 0} \\frac{\\sin t}{t} = 1$，结果是$\\frac{«a»}{«b»}$。",
                "令导数为零：$«a» - 2x = 0$，得$x = \\frac{«a»}{2}$。",
                "二阶导数小于零，所以这个驻点是极大值点。",
            ),
        },
    },
    {
        "key": "physics",
        "source": "stem",
        "answers": ("«q» m/s", "«A» J", "«r» N", "«q» A", "«a» m"),
        "subtopics": {
            "kinematics": {
                "en": ("A ball is thrown upward at «a» m/s. How long until it returns to the thrower's hand? (Take $g = 9.8$ m/s².)",
                       "A car accelerates uniformly from rest to «a» m/s in «x» s. How far does it travel?"),
                "zh": ("以«a» m/s的速度竖直上抛一个小球，经过多长时间回到抛出点？（取$g = 9.8$ m/s²）",
                       "一辆汽车从静止开始匀加速，«x» s内速度达到«a» m/s，求这段时间内的位移。"),
            },
            "forces": {
                "en": ("A «a» kg block rests on a «x»° incline with friction coefficient 0.«y». Does it slide, and with what acceleration?",
                       "Two masses of «a» kg and «b» kg hang over a frictionless pulley. Find the acceleration."),
                "zh": ("质量为«a» kg的物块放在倾角为«x»°的斜面上，动摩擦因数为0.«y»，物块的加速度是多少？",
                       "质量分别为«a» kg和«b» kg的两个物体跨过光滑定滑轮，求它们的加速度。"),
            },
            "energy": {
                "en": ("A «a» kg object falls from a height of «b» m. What is its kinetic energy just before impact?",
                       "A spring with constant «A» N/m is compressed by «x» cm. How much energy does it store?"),
                "zh": ("质量为«a» kg的物体从«b» m高处自由落下，落地前瞬间的动能是多少？",
                       "劲度系数为«A» N/m的弹簧被压缩«x» cm，储存的弹性势能是多少？"),
            },
            "circuits": {
                "en": ("Resistors of «a» Ω and «b» Ω are connected in parallel to a «x» V battery. Find the total current.",
                       "A «x» μF capacitor is charged to «a» V. How much charge does it hold?"),
                "zh": ("«a» Ω和«b» Ω的电阻并联后接在«x» V的电源上，求干路电流。",
                       "电容为«x» μF的电容器充电到«a» V，它所带的电荷量是多少？"),
            },
        },
        "steps": {
            "en": (
                "Using $v = v_0 - g t$, the ball stops at $t = \\frac{«a»}{9.8}$ s, and the round trip takes twice that.",
                "With uniform acceleration, $s = \\frac{1}{2}(v_0 + v)t = \\frac{1}{2} \\cdot «a» \\cdot «x»$ m.",
                "Newton's second law along the incline: $ma = mg\\sin\\theta - \\mu mg\\cos\\theta$.",
                "For the Atwood machine, $a = \\frac{(m_1 - m_2)g}{m_1 + m_2} = \\frac{(«a» - «b») \\cdot 9.8}{«s»}$.",
                "By conservation of energy, the kinetic energy equals $mgh = «a» \\times 9.8 \\times «b»$ J.",
                "The spring energy is $E = \\frac{1}{2}kx^2$ with $x$ in metres, so $x = 0.«x»$ m.",
                "For parallel resistors, $\\frac{1}{R} = \\frac{1}{«a»} + \\frac{1}{«b»}$, so $R = \\frac{«p»}{«s»}$ Ω.",
                "Ohm's law gives $I = \\frac{V}{R}$.",
                "The charge is $Q = CV = «x» \\times 10^{-6} \\times «a»$ C.",
                "I should draw a free-body diagram: gravity, the normal force and friction act on the block.",
            ),
            "zh": (
                "由$v = v_0 - g t$，小球在$t = \\frac{«a»}{9.8}$ s时速度为零，往返时间是它的两倍。",
                "匀加速运动的位移$s = \\frac{1}{2}(v_0 + v)t = \\frac{1}{2} \\times «a» \\times «x»$ m。",
                "沿斜面方向由牛顿第二定律：$ma = mg\\sin\\theta - \\mu mg\\cos\\theta$。",
                "对整体分析，$a = \\frac{(m_1 - m_2)g}{m_1 + m_2} = \\frac{(«a» - «b») \\times 9.8}{«s»}$。",
                "由机械能守恒，动能等于$mgh = «a» \\times 9.8 \\times «b»$ J。",
                "并联电阻$\\frac{1}{R} = \\frac{1}{«a»} + \\frac{1}{«b»}$，所以$R = \\frac{«p»}{«s»}$ Ω。",
                "电荷量$Q = CV = «x» \\times 10^{-6} \\times «a»$ C。",
            ),
        },
    },
    {
        "key": "chemistry",
        "source": "stem",
        "answers": ("«q» mol", "«r» g", "pH = «x»", "«A» kJ", "«r» L"),
        "subtopics": {
            "stoichiometry": {
                "en": ("How many grams of water are produced when «a» g of hydrogen burns completely in oxygen?",
                       "What mass of CO₂ forms when «a» g of methane is burned?"),
                "zh": ("«a» g氢气在氧气中完全燃烧，生成水的质量是多少克？", "«a» g甲烷完全燃烧，生成二氧化碳多少克？"),
            },
            "gas_laws": {
                "en": ("A gas occupies «a» L at «A» K. What volume does it occupy at «B» K at constant pressure?",
                       "How many moles of an ideal gas occupy «a» L at STP?"),
                "zh": ("一定质量的气体在«A» K时体积为«a» L，压强不变，温度升到«B» K时体积是多少？",
                       "标准状况下«a» L理想气体的物质的量是多少？"),
            },
            "acids": {
                "en": ("What is the pH of a 0.00«x» M solution of HCl?",
                       "A buffer contains «a» mM acetic acid and «b» mM sodium acetate. Find its pH ($pK_a = 4.76$)."),
                "zh": ("0.00«x» mol/L盐酸溶液的pH是多少？", "缓冲溶液中醋酸浓度为«a» mmol/L，醋酸钠浓度为«b» mmol/L，求pH（$pK_a = 4.76$）。"),
            },
            "thermo": {
                "en": ("Using bond enthalpies, estimate $\\Delta H$ for a reaction that breaks «x» C–H bonds and forms «y» O–H bonds.",
                       "How much heat is needed to warm «A» g of water by «a» °C?"),
                "zh": ("利用键能估算一个断裂«x»个C–H键、形成«y»个O–H键的反应的$\\Delta H$。", "把«A» g水升高«a» °C需要吸收多少热量？"),
            },
        },
        "steps": {
            "en": (
                "The balanced equation is $2\\mathrm{H_2} + \\mathrm{O_2} \\rightarrow 2\\mathrm{H_2O}$, so moles of water equal moles of hydrogen.",
                "The molar mass of $\\mathrm{CH_4}$ is 16 g/mol, so «a» g is $\\frac{«a»}{16}$ mol.",
                "By Charles's law, $\\frac{V_1}{T_1} = \\frac{V_2}{T_2}$, so $V_2 = «a» \\times \\frac{«B»}{«A»}$.",
                "At STP one mole of gas occupies 22.4 L, so $n = \\frac{«a»}{22.4}$ mol.",
                "For a strong acid, $[\\mathrm{H^+}] = c$ and $\\mathrm{pH} = -\\log_{10} c$.",
                "The Henderson–Hasselbalch equation gives $\\mathrm{pH} = pK_a + \\log\\frac{[\\mathrm{A^-}]}{[\\mathrm{HA}]}$.",
                "$q = mc\\Delta T = «A» \\times 4.18 \\times «a»$ J.",
                "$\\Delta H = \\sum E_{\\text{broken}} - \\sum E_{\\text{formed}}$.",
                "The mole ratio from the balanced equation is «x»:«y», which I use to convert.",
            ),
            "zh": (
                "配平方程式：$2\\mathrm{H_2} + \\mathrm{O_2} = 2\\mathrm{H_2O}$，生成水的物质的量等于氢气的物质的量。",
                "甲烷的摩尔质量是16 g/mol，所以«a» g甲烷是$\\frac{«a»}{16}$ mol。",
                "由盖-吕萨克定律，$\\frac{V_1}{T_1} = \\frac{V_2}{T_2}$，得$V_2 = «a» \\times \\frac{«B»}{«A»}$。",
                "标准状况下气体摩尔体积是22.4 L/mol，所以$n = \\frac{«a»}{22.4}$ mol。",
                "强酸完全电离，$c(\\mathrm{H^+}) = c$，$\\mathrm{pH} = -\\lg c$。",
                "$Q = cm\\Delta t = 4.18 \\times «A» \\times «a»$ J。",
                "$\\Delta H$ = 反应物键能总和 − 生成物键能总和。",
            ),
        },
    },
    {
        "key": "biology",
        "source": "stem",
        "answers": ("A", "B", "C", "D", "«x»/«xy»"),
        "subtopics": {
            "genetics": {
                "en": ("In a cross between two heterozygous plants (Aa × Aa), what fraction of «A» offspring is expected to show the recessive phenotype?",
                       "A gene has «x» alleles. How many different genotypes are possible in a diploid organism?"),
                "zh": ("两株杂合子植株（Aa × Aa）杂交，«A»株后代中预计有多少株表现隐性性状？",
                       "某基因有«x»个复等位基因，二倍体生物中可能有多少种基因型？"),
            },
            "cells": {
                "en": ("Which organelle is primarily responsible for ATP production in eukaryotic cells? Options: A) ribosome B) mitochondrion C) Golgi apparatus D) lysosome",
                       "How many chromosomes does a human cell contain after meiosis II?"),
                "zh": ("真核细胞中主要负责产生ATP的细胞器是：A. 核糖体 B. 线粒体 C. 高尔基体 D. 溶酶体",
                       "人的细胞经过减数第二次分裂后含有多少条染色体？"),
            },
            "ecology": {
                "en": ("A population grows from «A» to «B» individuals in «x» years. What is the annual growth rate?",
                       "If only «x»% of energy passes between trophic levels, how much of «A» kJ reaches the third level?"),
                "zh": ("某种群«x»年内从«A»个个体增长到«B»个，年增长率是多少？",
                       "若能量在相邻营养级间的传递效率为«x»%，«A» kJ能量有多少能传到第三营养级？"),
            },
            "physiology": {
                "en": ("Which hormone lowers blood glucose? Options: A) glucagon B) insulin C) adrenaline D) cortisol",
                       "A heart beats «a» times per minute with a stroke volume of «b» mL. What is the cardiac output?"),
                "zh": ("能降低血糖的激素是：A. 胰高血糖素 B. 胰岛素 C. 肾上腺素 D. 皮质醇",
                       "心率为每分钟«a»次，每搏输出量为«b» mL，心输出量是多少？"),
            },
        },
        "steps": {
            "en": (
                "A Punnett square for Aa × Aa gives AA : Aa : aa in the ratio 1 : 2 : 1.",
                "Only the aa offspring show the recessive phenotype, which is one quarter of «A».",
                "With «x» alleles the number of genotypes is $\\frac{«x»(«x» + 1)}{2}$.",
                "Mitochondria carry out oxidative phosphorylation, which produces most of the cell's ATP.",
                "Meiosis halves the chromosome number, so a gamete has 23 chromosomes.",
                "Insulin promotes glucose uptake by cells, whereas glucagon raises blood glucose.",
                "Cardiac output is heart rate times stroke volume: «a» × «b» mL per minute.",
                "Option A is incorrect because ribosomes synthesise proteins, not ATP.",
                "Energy transfer between trophic levels is inefficient, roughly «x»% per step.",
            ),
            "zh": (
                "画出Aa × Aa的棋盘格，AA : Aa : aa = 1 : 2 : 1。",
                "只有aa表现隐性性状，占«A»的四分之一。",
                "线粒体是有氧呼吸的主要场所，产生细胞中大部分的ATP。",
                "减数分裂使染色体数目减半，所以配子中有23条染色体。",
                "胰岛素促进细胞摄取葡萄糖，而胰高血糖素使血糖升高。",
                "心输出量 = 心率 × 每搏输出量 = «a» × «b» mL/min。",
                "选项A不对，因为核糖体是合成蛋白质的场所。",
            ),
        },
    },
    {
        "key": "code",
        "source": "code",
        "answers": ("O(n \\log n)", "O(n^2)", "«a»", "O(n)", "«s»"),
        "subtopics": {
            "python": {
                "en": ("What does the following Python code print?\n```python\nx = [«a», «b», «c»]\nprint(sum(v * 2 for v in x if v % 2))\n```",
                       "Write a Python function that returns the «x»-th Fibonacci number, and give fib(«x»)."),
                "zh": ("下面的Python代码输出什么？\n```python\nx = [«a», «b», «c»]\nprint(sum(v * 2 for v in x if v % 2))\n```",
                       "写一个Python函数返回第«x»个斐波那契数，并给出fib(«x»)的值。"),
            },
            "complexity": {
                "en": ("What is the time complexity of merge sort on «A» elements, and roughly how many comparisons does it make?",
                       "A nested loop runs i from 0 to n and j from i to n. What is its time complexity?"),
                "zh": ("对«A»个元素做归并排序，时间复杂度是多少？大约需要多少次比较？",
                       "外层循环i从0到n，内层循环j从i到n，这段代码的时间复杂度是多少？"),
            },
            "debugging": {
                "en": ("This function should return the maximum of a list but fails on negative numbers:\n```python\ndef my_max(xs):\n    best = 0\n    for v in xs:\n        if v > best:\n            best = v\n    return best\n```\nWhat is wrong and what does my_max([-«a», -«b»]) return?",
                       "Why does `for i in range(len(xs)): xs.pop(i)` raise an IndexError on a list of «x» items?"),
                "zh": ("下面的函数本应返回列表的最大值，但对负数出错：\n```python\ndef my_max(xs):\n    best = 0\n    for v in xs:\n        if v > best:\n            best = v\n    return best\n```\n错在哪里？my_max([-«a», -«b»])返回什么？",
                       "为什么对长度为«x»的列表执行`for i in range(len(xs)): xs.pop(i)`会抛出IndexError？"),
            },
            "algorithms": {
                "en": ("Using binary search on a sorted array of «A» elements, what is the maximum number of comparisons needed?",
                       "Find the length of the longest increasing subsequence of [«a», «b», «x», «c», «y», «A»]."),
                "zh": ("在«A»个元素的有序数组中二分查找，最多需要比较多少次？",
                       "求序列[«a», «b», «x», «c», «y», «A»]的最长上升子序列的长度。"),
            },
        },
        "steps": {
            "en": (
                "The generator keeps only the odd values and doubles them before summing.",
                "Merge sort splits the array in half $\\log_2 n$ times and does $O(n)$ work per level, so it is $O(n \\log n)$.",
                "The inner loop runs $n - i$ times, so the total is $\\sum_{i=0}^{n} (n - i) = \\frac{n(n+1)}{2}$, which is $O(n^2)$.",
                "The bug is the initial value: `best = 0` is larger than every negative element, so 0 is returned.",
                "Popping while iterating shrinks the list, so index `i` eventually exceeds `len(xs) - 1`.",
                "Binary search halves the range each step, so it needs at most $\\lceil \\log_2(«A» + 1) \\rceil$ comparisons.",
                "A dynamic-programming table `dp[i]` stores the length of the longest increasing subsequence ending at `i`.",
                "Let me trace the loop: after the first iteration the accumulator is «a», after the second «s».",
                "```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n```",
            ),
            "zh": (
                "生成器表达式只保留奇数，并把它们乘以2后再求和。",
                "归并排序每次把数组对半分，共$\\log_2 n$层，每层$O(n)$，所以是$O(n \\log n)$。",
                "内层循环执行$n - i$次，总次数为$\\frac{n(n+1)}{2}$，即$O(n^2)$。",
                "错误在于初始值：`best = 0`比所有负数都大，所以返回0。",
                "一边遍历一边删除，列表变短，下标`i`最终会越界。",
                "二分查找每次把范围减半，最多需要$\\lceil \\log_2(«A» + 1) \\rceil$次比较。",
                "用动态规划，`dp[i]`表示以第`i`个元素结尾的最长上升子序列长度。",
            ),
        },
    },
)
