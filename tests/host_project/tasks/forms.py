from django import forms


class AddForm(forms.Form):
    x = forms.IntegerField(initial=1)
    y = forms.IntegerField(initial=2)


class FailForm(forms.Form):
    message = forms.CharField(initial="host failure", max_length=200)
